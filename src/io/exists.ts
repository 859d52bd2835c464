/** Whether something is at `path` (any error, a missing folder or a denied one, counts as no). */

import { access } from 'node:fs/promises';

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
