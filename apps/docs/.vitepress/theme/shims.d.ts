/** Single-file components, for the type-checker (Vite compiles them; vue-tsc is not used here). */
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<object, object, unknown>;
  export default component;
}
