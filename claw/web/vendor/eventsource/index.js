export { ErrorEvent } from './errors.js';
export { EventSource } from './EventSource.js';
