import { defineClientComponent } from 'vitepress';
import type { Theme } from 'vitepress';
import DefaultTheme from 'vitepress/theme';
import './style.css';

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    // the demo imports tfjs and the models: client-only, loaded when the demo page mounts it
    app.component(
      'DynavitDemo',
      defineClientComponent(() => import('./DynavitDemo.vue')),
    );
    app.component(
      'DynavitTeach',
      defineClientComponent(() => import('./DynavitTeach.vue')),
    );
  },
} satisfies Theme;
