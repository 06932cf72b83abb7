import pkg from '../package.json' with { type: 'json' };

/** The agent's version, reported as the Node's kubeletVersion ("v0.1.0"). */
export const agentVersion = `v${pkg.version}`;
