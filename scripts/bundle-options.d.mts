import type { BuildOptions, Metafile } from 'esbuild';

export const common: BuildOptions;
export function forbiddenInputs(metafile: Metafile, packages: readonly string[]): string[];
