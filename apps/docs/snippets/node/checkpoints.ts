// #region load
import { readFile } from 'node:fs/promises';
import { loadPthStateDict, Registry } from '@dynavit/core';
import { readSafetensorsFile } from '@dynavit/core/node';
import { dat } from '@dynavit/dat';
import { selectBackend } from '@dynavit/backend-node';

await selectBackend();
const model = new Registry([dat]).createModel('dat_pp_tiny');
model.loadStateDict(loadPthStateDict(new Uint8Array(await readFile('dat_pp_tiny.pth')), { key: 'model' }));
// or, converted:
model.loadStateDict((await readSafetensorsFile('dat_pp_tiny.safetensors')).tensors);
// #endregion load
model.dispose();
