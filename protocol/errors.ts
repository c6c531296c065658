/**
 * Every error laas reports has a stable code. Codes are never reused or renamed: scripts
 * and operators match on them. A test checks that every code here is documented.
 */
export const ERROR_CODES = {
  // Wire frames (agent link)
  FRAME_NOT_JSON: 'the frame is not valid JSON',
  FRAME_TOO_LARGE: 'the frame is larger than the link allows',
  FRAME_BAD_ENVELOPE: 'the frame lacks the {v, type, body} envelope',
  FRAME_UNSUPPORTED_VERSION: 'the frame speaks a protocol version this side does not',
  FRAME_UNKNOWN_TYPE: 'the frame has a message type this side does not know',
  FRAME_BAD_BODY: 'the message body does not match its schema',
  FRAME_UNEXPECTED: 'the message is valid but not allowed at this point of the session',
  // Configuration files
  CONFIG_READ_FAILED: 'a configuration file could not be read',
  CONFIG_NOT_JSON: 'a configuration file is not valid JSON',
  CONFIG_INVALID: 'a configuration file does not match its schema',
  CONFIG_SECRET_UNRESOLVED: 'a secret given as {env} or {file} could not be resolved',
  // Rules
  RULE_READ_FAILED: 'a rule file could not be read',
  RULE_NOT_JSON: 'a rule file is not valid JSON',
  RULE_INVALID: 'a rule file does not match the rule schema',
  RULE_DUPLICATE_NAME: 'two rules in one namespace share a name',
  RULE_UNKNOWN_ACTION: 'a rule heals with an action the catalogue does not have',
  RULE_BAD_PARAMS: 'a rule passes parameters its action does not accept',
  RULE_UNKNOWN_RECEIVER: 'a rule notifies a receiver the controller config does not define',
  RULE_BAD_PATH: 'a condition path is not a JSONPath the evaluator can read',
  RULES_NOT_FOUND: 'a rules path does not exist',
  BACKTEST_PROMETHEUS: 'Prometheus could not be queried for a backtest (unreachable, refused the query, or did not answer JSON)',
  // Actions on the agent
  ACTION_UNKNOWN: 'the agent does not know this action',
  ACTION_BAD_PARAMS: 'the action parameters do not match its schema',
  ACTION_NOT_ALLOWED: 'the agent configuration does not allow this action target',
  ACTION_BAD_SIGNATURE: 'the instruction is not signed by the controller key this agent pins',
  ACTION_REPLAYED: 'the instruction id already ran on this agent; it is not run again',
  ACTION_DEADLINE_PASSED: 'the instruction arrived after its deadline',
  ACTION_SPAWN_FAILED: 'the command of the action could not be started (e.g. not found)',
  ACTION_INTERNAL_ERROR: 'the agent failed while running the action (a bug in the agent)',
  ACTION_TARGET_NOT_FOUND: 'the process or path the action names does not exist',
  ACTION_PERMISSION_DENIED: "the operating system denied the agent's user the action (EPERM, EACCES)",
  ACTION_UNSUPPORTED: "the action cannot run safely on this agent's system, so it was refused",
  ACTION_NO_SIGNING_KEY: 'the agent pins no controller signing key, so it runs no instruction',
  // Controller HTTP API
  API_UNAUTHORIZED: 'the request has no valid bearer token',
  API_FORBIDDEN: 'the token is valid but its role may not do this',
  API_RATE_LIMITED: 'too many failed authentications from this source; wait and retry',
  API_NOT_FOUND: 'no such endpoint or record',
  API_BAD_REQUEST: 'the request body or parameters are invalid',
  API_METHOD_NOT_ALLOWED: 'the endpoint exists but not with this HTTP method',
  API_CONFLICT: "the request does not fit the record's state (e.g. approving a work order that is not waiting)",
  HEAL_NOT_FOUND: 'no open work order with that id',
  HEAL_NOT_AWAITING_APPROVAL: 'the work order is not waiting for approval (decided, finished or never needed one)',
  API_BODY_TOO_LARGE: 'the request body is larger than the API allows',
  API_HOST_NOT_ALLOWED: "a request to an API without tokens named a Host that is not loopback or the externalUrl's (DNS rebinding)",
  API_CROSS_SITE: 'a state-changing request without a bearer token was not JSON, or came from another origin (what a web page sends)',
  // Security
  CONFIG_INSECURE_LISTEN: 'the controller would listen beyond loopback without TLS',
  CONFIG_OPEN_API: 'the controller would listen beyond loopback with no apiTokens: everyone reaching it would be admin',
  ENROLL_FAILED: 'an agent could not enroll (token unknown, used, expired, or the agent already enrolled)',
  // Store
  STORE_CORRUPT: 'the data file exists but is not a valid laas store',
  STORE_LOCKED: 'another process holds the data directory',
  STORE_UNAVAILABLE: 'the PostgreSQL store cannot be reached or refused the login',
  STORE_WRITE_FAILED: 'a write to the PostgreSQL store failed after its retries',
  STORE_MIGRATION_FAILED: 'a schema migration of the PostgreSQL store failed (nothing of it was applied)',
  STORE_SCHEMA_NEWER: 'the PostgreSQL store was migrated by a newer laas than this one',
  // Several controllers
  CLUSTER_OWNER_UNAVAILABLE: 'the controller holding the host of this record did not answer',
  CLUSTER_SECRET_MISMATCH: 'the signing key in the database was encrypted with another cluster secret than this controller has',
  // Agent identity at hello
  AGENT_ID_ENROLLED: 'a shared token said hello as an agent id that has (or had) its own credential',
  AGENT_ID_NOT_ALLOWED: 'a shared token said hello as an id, or with labels, outside what its config entry allows',
  AGENT_ID_CLAIMED: 'a shared token said hello as an agent id another token claimed first',
  AGENT_HOST_LIMIT: 'a shared token said hello as a new agent id past its maxHosts',
  AGENT_CREDENTIAL_REVOKED: 'an enrolled agent said hello with a credential that was revoked meanwhile',
  // Reliability
  AGENT_STATE_CORRUPT: "a state file in the agent's stateDir is unreadable or invalid; it was moved aside",
  LINK_FLOODING: 'an agent connection kept sending frames over its budget and was cut off',
  // Alerting
  SILENCE_INVALID: 'a stored silence cannot be applied (e.g. a matcher regex that does not compile); it is skipped',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class LaasError extends Error {
  readonly code: ErrorCode;
  /** Where the fault is: a file, a JSON pointer, a field. Shown before the message. */
  readonly where?: string;

  constructor(code: ErrorCode, message: string, where?: string) {
    super(where ? `${where}: ${message}` : message);
    this.name = 'LaasError';
    this.code = code;
    this.where = where;
  }

  toJSON(): { code: ErrorCode; message: string; where?: string } {
    return { code: this.code, message: this.message, ...(this.where ? { where: this.where } : {}) };
  }
}

export function isLaasError(e: unknown): e is LaasError {
  return e instanceof LaasError;
}

/** A readable message for anything thrown, for logs and results. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
