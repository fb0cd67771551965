// tfjs-node 4.22, the last release of @tensorflow/tfjs-node(-gpu), calls two of Node's old util type checks in
// its kernels: util.isNullOrUndefined (createTensorsTypeOpAttr, createOpAttr, getTFDTypeForInputs and TopK),
// which Node 23 removed, so its first op would throw "isNullOrUndefined is not a function"; and util.isArray
// (getTFDTypeForInputs), which Node 22 and later deprecate with a warning on first use. Fixed upstream
// (tensorflow/tfjs#8425) but not released. Nothing else of util but promisify is used there (checked in 4.22.0's dist/).
import util from 'node:util';

/** The two checks as Node defined them, with no deprecation warning. */
const OLD_UTIL_CHECKS = {
  isNullOrUndefined: (value: unknown): boolean => value === null || value === undefined,
  isArray: (value: unknown): boolean => Array.isArray(value),
};

/**
 * Puts the checks tfjs-node calls back on Node's util module (the object its `require("util")` returns), before
 * it loads. Same results as Node's own; called only when a tfjs-node package is installed.
 */
export function supplyOldUtilChecks(): void {
  const target = util as unknown as Record<string, unknown>;
  for (const [name, check] of Object.entries(OLD_UTIL_CHECKS)) target[name] = check;
}
