/** The laas release; agents and controllers report it in hello and welcome. */
export const LAAS_VERSION = '0.1.0';
