<#
.SYNOPSIS
Prints the IPv4 addresses other devices on the LAN can use to reach this computer.

.DESCRIPTION
Prints one line per address as ADDRESS<TAB>INTERFACE, for example

    192.168.1.20    Wi-Fi

so a phone or laptop can be told where Ferry is without digging through ipconfig.

Read from Get-NetIPAddress -AddressFamily IPv4. Skipped: loopback (127.0.0.0/8),
APIPA link-local addresses (169.254.0.0/16, which Windows gives itself when no
network answered), addresses still being set up (not Preferred), interfaces
that are disconnected (cable out, Wi-Fi not joined), and the internal Hyper-V
switches of WSL and the Default Switch, which other devices cannot reach.

Exits with 0 when it printed at least one address and 1 when it found none.

.PARAMETER Help
Shows this help and exits.

.EXAMPLE
.\lan-address.ps1

.EXAMPLE
powershell -ExecutionPolicy Bypass -File .\lan-address.ps1 -Help
#>
[CmdletBinding()]
param(
    [switch]$Help
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

if ($Help) {
    Get-Help -Name $PSCommandPath -Full
    exit 0
}

$connected = @(Get-NetIPInterface -AddressFamily IPv4 -ConnectionState Connected |
    ForEach-Object { $_.InterfaceIndex })

$found = @(Get-NetIPAddress -AddressFamily IPv4 |
    Where-Object {
        $connected -contains $_.InterfaceIndex -and
        $_.AddressState -eq 'Preferred' -and
        $_.IPAddress -notlike '127.*' -and
        $_.IPAddress -notlike '169.254.*' -and
        $_.InterfaceAlias -notmatch '^Loopback' -and
        $_.InterfaceAlias -notmatch '^vEthernet \((WSL|Default Switch)'
    })

if ($found.Count -eq 0) {
    [Console]::Error.WriteLine('lan-address.ps1: no LAN IPv4 address found: every interface is disconnected, loopback, link-local or internal.')
    [Console]::Error.WriteLine('Join a network (Wi-Fi or cable) and run it again.')
    exit 1
}

foreach ($address in $found) {
    Write-Output ("{0}`t{1}" -f $address.IPAddress, $address.InterfaceAlias)
}
