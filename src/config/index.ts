/** The configuration layer (DESIGN.md section 6): one schema, sources merged, validated once. */
export { configKeys, configSchema, type Config, type ConfigKey, type RawConfig } from "./schema.js";
export { loadConfig, type ConfigOverride, type LoadConfigOptions, type LoadedConfig } from "./load.js";
export { ENV_CONFIG_PATH, ENV_PREFIX } from "./sources.js";
export { DEFAULT_CONFIG } from "./defaults.js";
export { startupConfig, type StartupConfig } from "./startup.js";
export { explainConfig } from "./explain.js";
