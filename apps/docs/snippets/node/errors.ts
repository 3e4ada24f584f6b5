import { readFile } from 'node:fs/promises';
// #region snippet
import { DynavitError, loadPthStateDict } from '@dynavit/core';

const bytes = new Uint8Array(await readFile('downloaded.pth'));
try {
  const sd = loadPthStateDict(bytes);
  console.log(`${sd.size} tensors`);
} catch (e) {
  if (DynavitError.isInstance(e) && e.code === 'UNSAFE_PICKLE') console.error(`refused: ${e.message}`);
  else throw e;
}
// #endregion snippet
