// Every workflow the workers register (the bundle's entry point).
export { hostOperation } from './host-operation.ts';
export { migrate } from './migrate.ts';
export { drain } from './drain.ts';
export { rebalance } from './rebalance.ts';
