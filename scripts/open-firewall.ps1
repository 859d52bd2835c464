<#
.SYNOPSIS
Opens Ferry's TCP ports in Windows Defender Firewall, or with -Close removes the rules.

.DESCRIPTION
Adds one inbound rule per port, named "Ferry PORT", that allows TCP to that port
on every network profile (Domain, Private and Public):

    New-NetFirewallRule -DisplayName 'Ferry 8080' -Direction Inbound -Protocol TCP -LocalPort 8080 -Action Allow -Profile Any

With -Close it removes those rules (Remove-NetFirewallRule -DisplayName 'Ferry PORT').
Opening a port that already has its rule, or closing one that has none,
changes nothing. Each change is printed as the exact command first; with
-DryRun only the commands are printed.

The ports default to the service, ops and web client ports: $env:FERRY_PORT (8080),
$env:FERRY_OPS_PORT (8081) and $env:FERRY_WEB_PORT (8443). The rules stay until removed, across reboots.
Changing the firewall needs an elevated (Run as administrator) PowerShell;
-DryRun does not.

Exits with 0 on success, 1 when the firewall could not be changed and 2 on an
invalid port.

.PARAMETER Port
The TCP ports to open or close, each from 1 to 65535.

.PARAMETER Close
Removes the "Ferry PORT" rules instead of adding them.

.PARAMETER DryRun
Prints the commands, one per line, instead of running them.

.PARAMETER Help
Shows this help and exits.

.EXAMPLE
.\open-firewall.ps1

.EXAMPLE
.\open-firewall.ps1 -Port 9000 -DryRun

.EXAMPLE
.\open-firewall.ps1 -Close
#>
[CmdletBinding()]
param(
    [string[]]$Port,
    [switch]$Close,
    [switch]$DryRun,
    [switch]$Help
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

if ($Help) {
    Get-Help -Name $PSCommandPath -Full
    exit 0
}

function Exit-WithError([string]$Message, [int]$Code) {
    [Console]::Error.WriteLine("open-firewall.ps1: $Message")
    exit $Code
}

# The ports as numbers, each checked once whether it came from -Port or the environment.
function Resolve-Ports {
    $requested = @()
    if ($Port) {
        $requested = @($Port | ForEach-Object { @{ Value = $_; Source = '' } })
    } else {
        $requested = @(
            @{ Value = $(if ($env:FERRY_PORT) { $env:FERRY_PORT } else { '8080' }); Source = ' in FERRY_PORT' },
            @{ Value = $(if ($env:FERRY_OPS_PORT) { $env:FERRY_OPS_PORT } else { '8081' }); Source = ' in FERRY_OPS_PORT' },
            @{ Value = $(if ($env:FERRY_WEB_PORT) { $env:FERRY_WEB_PORT } else { '8443' }); Source = ' in FERRY_WEB_PORT' }
        )
    }
    $ports = @()
    foreach ($entry in $requested) {
        $text = [string]$entry.Value
        if ($text -notmatch '^[1-9][0-9]{0,4}$' -or [int]$text -gt 65535) {
            Exit-WithError "invalid port '$text'$($entry.Source): a port is a whole number from 1 to 65535" 2
        }
        if ($ports -notcontains [int]$text) { $ports += [int]$text }
    }
    return $ports
}

# Prints the command as one line, then runs it unless this is a dry run.
function Invoke-Change([string]$Command, [System.Collections.Specialized.OrderedDictionary]$Arguments) {
    $words = @($Command)
    foreach ($name in $Arguments.Keys) {
        $value = $Arguments[$name]
        if ($value -is [string] -and $value -match '\s') { $value = "'$value'" }
        $words += "-$name"
        $words += "$value"
    }
    Write-Output ($words -join ' ')
    if (-not $DryRun) {
        try {
            & $Command @Arguments | Out-Null
        } catch {
            Exit-WithError "failed: $($words -join ' '): $($_.Exception.Message)" 1
        }
    }
}

$ports = @(Resolve-Ports)

if (-not $DryRun) {
    $identity = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
    if (-not $identity.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        Exit-WithError 'changing the firewall needs an elevated PowerShell (Run as administrator), or add -DryRun to see the commands' 1
    }
}

$changes = 0
foreach ($number in $ports) {
    $name = "Ferry $number"
    $existing = @(Get-NetFirewallRule -DisplayName $name -ErrorAction SilentlyContinue)
    if ($Close -and $existing.Count -gt 0) {
        Invoke-Change 'Remove-NetFirewallRule' ([ordered]@{ DisplayName = $name })
        $changes++
    } elseif (-not $Close -and $existing.Count -eq 0) {
        Invoke-Change 'New-NetFirewallRule' ([ordered]@{
                DisplayName = $name
                Direction   = 'Inbound'
                Protocol    = 'TCP'
                LocalPort   = $number
                Action      = 'Allow'
                Profile     = 'Any'
            })
        $changes++
    }
}

$verb = if ($Close) { 'closed' } else { 'opened' }
if ($changes -eq 0) {
    [Console]::Error.WriteLine("open-firewall.ps1: nothing to do: TCP $($ports -join ' ') already $verb")
} elseif ($DryRun) {
    [Console]::Error.WriteLine('open-firewall.ps1: dry run: nothing was changed')
} else {
    [Console]::Error.WriteLine("open-firewall.ps1: $verb TCP $($ports -join ' ') in Windows Defender Firewall")
}
