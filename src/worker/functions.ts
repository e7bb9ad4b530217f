/** Task functions as they travel (shipped source or a module export), made callable. */
import type { WireFunction } from "../client/functions.js";
import { type AnyFunction, resolveFunction } from "./compile.js";

export function resolveTaskFunction(fn: unknown): Promise<AnyFunction> | AnyFunction {
  return resolveFunction(fn as WireFunction);
}
