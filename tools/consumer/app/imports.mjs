// Every entry point of every package imports from Node ESM and exports something; internals stay
// internal (a deep import is ERR_PACKAGE_PATH_NOT_EXPORTED); `<name>/package.json` is readable.
// argv[2]: JSON { entries: string[], names: string[] }. Last line: JSON { entry: number of exports }.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { entries, names } = JSON.parse(process.argv[2]);
const report = {};
for (const e of entries) {
  const m = await import(e);
  report[e] = Object.keys(m).length;
  if (report[e] === 0) throw new Error(`${e} exports nothing`);
}
for (const n of names) {
  if (require(`${n}/package.json`).name !== n) throw new Error(`${n}/package.json is not ${n}'s`);
  let deep = null;
  try {
    await import(`${n}/dist/index.js`);
  } catch (e) {
    deep = e;
  }
  if (deep?.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED')
    throw new Error(`${n}/dist/index.js should not be importable (${deep?.code ?? 'it was'})`);
}
console.log(JSON.stringify(report));
