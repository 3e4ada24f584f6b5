export { renderModelZoo } from './zoo.js';
