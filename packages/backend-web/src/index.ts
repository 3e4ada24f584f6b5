export { planBackends, WEB_BACKENDS, type WebBackend, type WebEnvironment, type WebBackendPlan } from './backends.js';
