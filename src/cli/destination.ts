/**
 * The scp-style forms `ferry upload SRC... DEST` and `ferry download SRC... DEST`.
 *
 * Without -d, the last of two or more arguments is the destination unless it
 * names an existing source (a local file or folder for upload, a remote one for
 * download); so every command that worked before these forms keeps its meaning,
 * and only commands that used to fail half-way change. A destination that ends
 * with a separator, or names an existing folder, receives the sources inside it;
 * otherwise a single source takes it as its new name, and several sources are
 * refused. All of it is decided before anything moves.
 */

import { ferryError } from '../protocol/errors.js';

/** The argument that stands for standard input (`upload - NAME`) or output (`download FILE -o -`); see pipes.ts. */
export const STDIO = '-';

export type Destination =
  /** The sources go inside this folder. */
  | { kind: 'into'; folder: string }
  /** The one source lands under this name. */
  | { kind: 'as'; name: string };

export interface DestinationSide {
  /** "upload" or "download", for messages. */
  verb: string;
  /** The folder used when none is named (-d's default). */
  defaultFolder: string;
  /** Whether `path` names an existing source (checked first, so old commands keep their meaning). */
  isSource(path: string): Promise<boolean>;
  /** Whether `path` names an existing folder on the destination side. */
  isFolder(path: string): Promise<boolean>;
  /** Whether `path` ends with a folder separator of the destination side. */
  endsWithSeparator(path: string): boolean;
  /** How a source and a destination are described in messages. */
  sourceKind: string;
  folderKind: string;
}

export async function splitDestination(
  args: readonly string[],
  dashD: string | undefined,
  side: DestinationSide,
): Promise<{ sources: string[]; destination: Destination }> {
  if (dashD !== undefined) return { sources: [...args], destination: { kind: 'into', folder: dashD } };
  const last = args.at(-1);
  if (args.length < 2 || last === undefined || (await side.isSource(last))) {
    return { sources: [...args], destination: { kind: 'into', folder: side.defaultFolder } };
  }
  const sources = args.slice(0, -1);
  if (side.endsWithSeparator(last) || (await side.isFolder(last))) return { sources, destination: { kind: 'into', folder: last } };
  if (sources.length === 1) return { sources, destination: { kind: 'as', name: last } };
  throw ferryError(
    'USAGE',
    `"${last}" is neither ${side.sourceKind} nor ${side.folderKind}, so it cannot receive several files; ` +
      `end it with "/" to ${side.verb} into a new folder, or use -d ${last}; nothing was transferred`,
  );
}
