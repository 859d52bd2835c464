/** The path jail of local-disk storage (the security boundary): see ./core.ts. */

export { canVerifyDescriptors, isInside } from './descriptors.js';
export { FolderCache } from './folder-cache.js';
export type { Folder, Opened, Place, Planned } from './folder.js';
export type { SymlinkPolicy } from './core.js';
export { Jail } from './jail.js';
