/**
 * The typed AgentManager client: REST (auth with automatic refresh, agents, tasks, locks, users,
 * API keys, workflows, pipelines) and the Socket.IO event stream with replay by seq.
 */
export { AgentManagerClient, type ClientOptions, type RequestOptions } from './client';
export { AgentManagerError, ConnectionError, isApiError, isConnectionError, isTransientError } from './errors';
export { EventStream, type EventStreamOptions, type EventSubscription,matchesSubscription } from './event-stream';
export * from './types';
