/** Who a call belongs to. Team, project, env and cost center come only from the key record. */
export interface KeyIdentity {
  keyId: string;
  org: string;
  team: string;
  project: string;
  env: string;
  costCenter: string | null;
  /** Bound user, if the key belongs to one person. */
  user: string | null;
}

/** Identity of one call: the key's identity plus request context. */
export interface CallIdentity extends KeyIdentity {
  /** The key's bound user, else the end user the app named (body `user` / x-tollgate-user). */
  user: string | null;
  feature: string | null;
  model: string;
  provider: string;
}
