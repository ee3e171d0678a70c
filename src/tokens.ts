// Injection tokens for the objects the API receives ready-made from the process's composition root.
export const SERVICES = Symbol('SERVICES');
export const TEMPORAL_CLIENT = Symbol('TEMPORAL_CLIENT');
