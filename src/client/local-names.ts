/**
 * Which remote names a local file system cannot hold. Remote paths are always
 * `/`-separated; on Windows some names are impossible (reserved device names,
 * `<>:"|?*`, a trailing dot or space). Such files are reported, never renamed
 * silently. Pure, so it is tested for every platform on any platform.
 */

const WINDOWS_FORBIDDEN = /[<>:"|?*\u0000-\u001f\\]/;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

/** Why `name` cannot be a file or folder name on `platform`, or undefined if it can. */
export function localNameProblem(name: string, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform !== 'win32') return undefined;
  if (WINDOWS_FORBIDDEN.test(name)) return `"${name}" holds a character Windows does not allow in names (<>:"|?* or a control character)`;
  if (WINDOWS_RESERVED.test(name)) return `"${name}" is a reserved device name on Windows`;
  if (/[. ]$/.test(name)) return `"${name}" ends with a dot or space, which Windows drops`;
  return undefined;
}
