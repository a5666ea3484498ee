/**
 * OpenTelemetry, loaded by main.ts before anything else (instrumentation patches http, express,
 * pg and Nest as they are first required). Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set — then
 * nothing is even loaded. When on: traces and metrics go to the endpoint over OTLP/HTTP
 * (`/v1/traces`, `/v1/metrics`); OTEL_SERVICE_NAME and the other standard OTEL_* variables apply.
 *
 * This reads process.env itself (config/app-config.ts validates the same variable later): it has
 * to run before the config module and Nest are loaded.
 */
import type { NodeSDK } from '@opentelemetry/sdk-node';

export function startTelemetry(env: NodeJS.ProcessEnv = process.env): NodeSDK | undefined {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!endpoint) return undefined;
  const base = endpoint.replace(/\/+$/, '');
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded only when tracing is on, and before Nest */
  const { NodeSDK: Sdk } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
  const { PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express') as typeof import('@opentelemetry/instrumentation-express');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const { NestInstrumentation } = require('@opentelemetry/instrumentation-nestjs-core') as typeof import('@opentelemetry/instrumentation-nestjs-core');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const sdk = new Sdk({
    serviceName: env.OTEL_SERVICE_NAME ?? 'agentmanager',
    traceExporter: new OTLPTraceExporter({ url: `${base}/v1/traces` }),
    metricReaders: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
        exportIntervalMillis: Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000),
      }),
    ],
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => req.url === '/health/live' || req.url === '/health/ready' }),
      new ExpressInstrumentation(),
      new PgInstrumentation(),
      new NestInstrumentation(),
    ],
  });
  sdk.start();
  return sdk;
}

/** Started on import: main.ts imports this module first. */
export const telemetry = startTelemetry();
