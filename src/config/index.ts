/** The configuration layer (DESIGN.md section 6): one schema, sources merged, validated once. */
export { configKeys, configSchema, type Config, type ConfigKey, type RawConfig } from "./schema.js";
export { ENV_CONFIG_PATH, ENV_PREFIX, loadConfig, type ConfigOverride, type LoadConfigOptions, type LoadedConfig } from "./load.js";
export { explainConfig } from "./explain.js";
