import { Injectable } from '@nestjs/common';
import { type LookupAddress,promises as dns } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { refusedRange } from './ssrf';

export const WEBHOOK_TIMEOUT_MS = 5_000;
export const WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024;

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export type SendOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'http_error'; status: number; message: string }
  | { kind: 'network_error'; message: string }
  | { kind: 'refused'; message: string };

class RefusedTarget extends Error {}

/**
 * One webhook POST with SSRF protection. The target's addresses are vetted where the connection
 * is made (a custom `lookup` for http.request), so a DNS answer that changes between a check and
 * the connect cannot slip through; IP-literal hosts are vetted before the request. Redirects are
 * never followed, the attempt is bounded by a 5 s timeout, and at most 64 KB of the response is read.
 */
@Injectable()
export class WebhookSender {
  /** How host names are resolved; replaceable so tests can stub DNS without touching the network. */
  resolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  private allowed(hostname: string): boolean {
    const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
    return this.config.webhookAllowedHosts.some((a) => a.toLowerCase() === h);
  }

  /** Checks a URL's scheme and (for IP literals) its address; null when it may be tried. */
  precheck(url: string): string | null {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return 'not a valid URL';
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return `scheme ${u.protocol} is not allowed (http and https only)`;
    if (u.username || u.password) return 'credentials in the URL are not allowed';
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !this.allowed(host)) {
      const range = refusedRange(host);
      if (range) return `${host} is in a refused range: ${range}`;
    }
    return null;
  }

  async send(url: string, body: string, headers: Record<string, string>): Promise<SendOutcome> {
    const problem = this.precheck(url);
    if (problem) return { kind: 'refused', message: problem };
    const u = new URL(url);
    const allowed = this.allowed(u.hostname);
    const lookup: LookupFunction = (hostname, options, callback) => {
      this.resolver(hostname).then(
        (addresses) => {
          if (!addresses.length) return callback(new Error(`${hostname} did not resolve`), '', 4);
          if (!allowed) {
            for (const a of addresses) {
              const range = refusedRange(a.address);
              if (range) return callback(new RefusedTarget(`${hostname} resolves to ${a.address}, in a refused range: ${range}`), '', 4);
            }
          }
          if ((options as { all?: boolean }).all) {
            (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, addresses);
          } else {
            callback(null, addresses[0].address, addresses[0].family);
          }
        },
        (err: Error) => callback(err as NodeJS.ErrnoException, '', 4),
      );
    };
    return new Promise<SendOutcome>((resolve) => {
      let settled = false;
      const done = (o: SendOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const request = (u.protocol === 'https:' ? https : http).request(
        u,
        {
          method: 'POST',
          lookup,
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body).toString(), 'user-agent': 'AgentManager-Webhook/1', ...headers },
        },
        (res) => {
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > WEBHOOK_MAX_RESPONSE_BYTES) res.destroy();
          });
          const finish = () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) done({ kind: 'delivered', status });
            else if (status >= 300 && status < 400) done({ kind: 'http_error', status, message: `redirect ${status} not followed` });
            else done({ kind: 'http_error', status, message: `HTTP ${status}` });
          };
          res.on('end', finish);
          res.on('close', finish);
          res.on('error', finish);
        },
      );
      const timer = setTimeout(() => {
        request.destroy(new Error(`no response within ${WEBHOOK_TIMEOUT_MS} ms`));
      }, WEBHOOK_TIMEOUT_MS);
      request.on('error', (err) => {
        if (err instanceof RefusedTarget) done({ kind: 'refused', message: err.message });
        else done({ kind: 'network_error', message: err.message });
      });
      request.end(body);
    });
  }
}
