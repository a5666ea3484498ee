#!/usr/bin/env bash
# Validates the deployment files without a cluster, a Docker engine or network access:
#   1. k8s manifests: YAML (1.1, as Kubernetes reads it), kustomization resource list, cross-references
#      (selectors, ports, names), pod security, env names and values against the server's own config
#      parser (when dist/ is built)
#   2. k8s manifests against the Kubernetes API types (kubernetes-types, checked by tsc: unknown
#      fields, missing required fields, wrong types)
#   3. `kubectl kustomize` renders k8s/ (when kubectl is installed)
#   4. docker-compose.yml against the Compose schema (dclint), plus `docker compose config` when a
#      Compose CLI is installed
#   5. Dockerfile structure (and hadolint when installed)
# Needs the devDependencies yaml, kubernetes-types, dclint and typescript.
# Usage: k8s/validate.sh [manifest-dir]      (default: the k8s/ folder beside this script)
# Exits non-zero when any check fails.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S_DIR="$(cd "${1:-$ROOT/k8s}" && pwd)"
# Where the validator packages live (override to test with packages installed elsewhere).
MODULES="${VALIDATE_NODE_MODULES:-$ROOT/node_modules}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
run() {
  local title="$1"
  shift
  echo "== $title"
  if "$@"; then
    passed=$((passed + 1))
    echo "   ok"
  else
    failed=$((failed + 1))
    echo "   FAILED: $title"
  fi
}

missing=()
for pkg in yaml kubernetes-types dclint typescript; do
  [[ -e "$MODULES/$pkg/package.json" ]] || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "validate.sh: missing packages in $MODULES: ${missing[*]}" >&2
  echo "install them with: npm install --save-dev --save-exact yaml@2.9.1 kubernetes-types@1.30.0 dclint@3.1.0" >&2
  exit 2
fi
ln -s "$MODULES" "$TMP/node_modules"

# ---- 1. manifests: structure and cross-references (also writes the typed copies for step 2) ------
check_manifests() {
  NODE_PATH="$MODULES" node - "$ROOT" "$K8S_DIR" "$TMP" <<'NODE'
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const [root, dir, tmp] = process.argv.slice(2);
const errors = [];
const fail = (where, msg) => errors.push(`${where}: ${msg}`);
const rel = (f) => path.relative(root, f) || f;

// apiVersion/kind -> kubernetes-types module and type
const TYPES = {
  'v1/Namespace': ['core/v1', 'Namespace'],
  'v1/ConfigMap': ['core/v1', 'ConfigMap'],
  'v1/Secret': ['core/v1', 'Secret'],
  'v1/Service': ['core/v1', 'Service'],
  'v1/ServiceAccount': ['core/v1', 'ServiceAccount'],
  'apps/v1/Deployment': ['apps/v1', 'Deployment'],
  'batch/v1/Job': ['batch/v1', 'Job'],
  'batch/v1/CronJob': ['batch/v1', 'CronJob'],
  'autoscaling/v2/HorizontalPodAutoscaler': ['autoscaling/v2', 'HorizontalPodAutoscaler'],
  'policy/v1/PodDisruptionBudget': ['policy/v1', 'PodDisruptionBudget'],
  'networking.k8s.io/v1/Ingress': ['networking/v1', 'Ingress'],
  'networking.k8s.io/v1/NetworkPolicy': ['networking/v1', 'NetworkPolicy'],
};
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;

// Kubernetes reads YAML 1.1 (`on`, `yes`, `0644` are not strings there), so parse it that way.
function load(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { version: '1.1' });
  const out = [];
  docs.forEach((doc, i) => {
    for (const e of [...doc.errors, ...doc.warnings]) fail(rel(file), `YAML: ${e.message.split("\n")[0]}`);
    const obj = doc.toJS();
    if (obj !== null && obj !== undefined) out.push({ file, index: i, obj });
  });
  return out;
}

// The settings the server reads, from its config parser.
const configSource = path.join(root, 'apps/server/src/config/app-config.ts');
const settings = fs.existsSync(configSource)
  ? new Set([...fs.readFileSync(configSource, 'utf8').matchAll(/r\.\w+\('([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]))
  : null;
const RUNTIME_ENV = new Set(['NODE_ENV', 'NODE_OPTIONS', 'TZ']);
const compiledConfig = path.join(root, 'dist/apps/server/src/config/app-config.js');
const loadConfig = fs.existsSync(compiledConfig) ? require(compiledConfig).loadConfig : null;
function checkEnv(where, env) {
  if (settings) {
    for (const name of Object.keys(env)) {
      if (!settings.has(name) && !RUNTIME_ENV.has(name)) fail(where, `${name} is not a setting the server reads`);
    }
  }
  if (loadConfig) {
    const values = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
    try {
      loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/d', ...values });
    } catch (e) {
      fail(where, `the server's config parser rejects these values: ${e.message.replace(/\s*\n\s*/g, ' ')}`);
    }
  }
}

// -- kustomization
const kustFile = path.join(dir, 'kustomization.yaml');
let listed = [];
if (!fs.existsSync(kustFile)) fail(rel(dir), 'kustomization.yaml is missing');
else {
  const kust = load(kustFile)[0]?.obj ?? {};
  listed = kust.resources ?? [];
  for (const r of listed) if (!fs.existsSync(path.join(dir, r))) fail(rel(kustFile), `resource ${r} does not exist`);
  const yamls = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
  for (const f of yamls) {
    if (/\.example\.ya?ml$/.test(f)) {
      if (listed.includes(f)) fail(rel(kustFile), `${f} is an example and must not be applied`);
    } else if (!listed.includes(f)) fail(rel(kustFile), `${f} is not listed in resources`);
  }
  console.log(`   kustomization: ${listed.length} resources, namespace ${kust.namespace ?? '(none)'}`);
}

// -- load every manifest
const all = [];
for (const f of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort()) {
  for (const m of load(path.join(dir, f))) all.push(m);
}
const byKind = (k) => all.filter((m) => m.obj.kind === k);
const where = (m) => `${rel(m.file)}${m.index ? `#${m.index}` : ''} ${m.obj.kind}/${m.obj.metadata?.name}`;
const matches = (selector, labels) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const podsOf = (m) => m.obj.spec?.template ?? {};
const deployments = byKind('Deployment');
const jobs = byKind('Job');
const workloads = [...deployments, ...jobs];
const configMaps = byKind('ConfigMap');
const secrets = byKind('Secret');

// -- per object: known type, names, labels; write a typed copy for tsc
all.forEach((m, n) => {
  const { obj } = m;
  const key = `${obj.apiVersion}/${obj.kind}`;
  const type = TYPES[key];
  if (!type) return fail(where(m), `unsupported apiVersion/kind ${key}`);
  const name = obj.metadata?.name;
  if (!name || !DNS_LABEL.test(name) || name.length > 63) fail(where(m), `metadata.name "${name}" is not a DNS label`);
  const labelSets = [obj.metadata?.labels, podsOf(m).metadata?.labels].filter(Boolean);
  for (const labels of labelSets) {
    for (const [k, v] of Object.entries(labels)) {
      if (typeof v !== 'string' || !LABEL_VALUE.test(v) || v.length > 63) fail(where(m), `label ${k}="${v}" is invalid`);
    }
  }
  const base = `${path.basename(m.file)}.${m.index}`.replace(/[^A-Za-z0-9_.-]/g, '_');
  fs.writeFileSync(
    path.join(tmp, `${String(n).padStart(2, '0')}-${base}.ts`),
    `import type { ${type[1]} } from 'kubernetes-types/${type[0]}';\n` +
      `// ${rel(m.file)} document ${m.index}\n` +
      `export const manifest: ${type[1]} = ${JSON.stringify(obj, null, 2)};\n`,
  );
});

// -- workloads: pod security, resources, volumes, env
for (const m of workloads) {
  const pod = podsOf(m).spec ?? {};
  const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const w = `${where(m)} container ${c.name}`;
    const sc = c.securityContext ?? {};
    if (!c.image) fail(w, 'image is missing');
    if ((sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot) !== true) fail(w, 'runAsNonRoot is not true');
    if (sc.readOnlyRootFilesystem !== true) fail(w, 'readOnlyRootFilesystem is not true');
    if (sc.allowPrivilegeEscalation !== false) fail(w, 'allowPrivilegeEscalation is not false');
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) fail(w, 'capabilities.drop does not include ALL');
    if ((sc.seccompProfile ?? pod.securityContext?.seccompProfile)?.type !== 'RuntimeDefault') fail(w, 'seccompProfile is not RuntimeDefault');
    for (const kind of ['requests', 'limits']) {
      for (const r of ['cpu', 'memory']) {
        const q = c.resources?.[kind]?.[r];
        if (q === undefined) fail(w, `resources.${kind}.${r} is missing`);
        else if (typeof q !== 'string' || !QUANTITY.test(q)) fail(w, `resources.${kind}.${r} "${q}" is not a quoted quantity`);
      }
    }
    for (const arg of [...(c.command ?? []), ...(c.args ?? [])]) {
      const src = /^dist\/(.+)\.js$/.exec(arg)?.[1];
      if (src && !fs.existsSync(path.join(root, `${src}.ts`))) fail(w, `runs ${arg} but ${src}.ts does not exist`);
    }
    const mounts = c.volumeMounts ?? [];
    for (const vm of mounts) if (!volumes.has(vm.name)) fail(w, `volumeMount ${vm.name} has no volume`);
    if (!mounts.some((vm) => vm.mountPath === '/tmp')) fail(w, 'no writable /tmp with a read-only root filesystem');
    const env = {};
    for (const src of c.envFrom ?? []) {
      if (src.configMapRef) {
        const cm = configMaps.find((x) => x.obj.metadata.name === src.configMapRef.name);
        if (!cm) fail(w, `envFrom ConfigMap ${src.configMapRef.name} is not defined here`);
        else Object.assign(env, cm.obj.data);
      }
      if (src.secretRef && !secrets.some((x) => x.obj.metadata.name === src.secretRef.name)) {
        fail(w, `envFrom Secret ${src.secretRef.name} has no example in ${rel(dir)}`);
      }
    }
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    checkEnv(w, env);
    m.env = env;
  }
}
// Secret values are placeholders: check the names only.
for (const m of secrets) {
  for (const k of Object.keys({ ...m.obj.data, ...m.obj.stringData })) {
    if (settings && !settings.has(k)) fail(where(m), `${k} is not a setting the server reads`);
  }
}

// -- Deployments: selector, probes, shutdown budget
for (const m of deployments) {
  const spec = m.obj.spec ?? {};
  const labels = spec.template?.metadata?.labels;
  if (!matches(spec.selector?.matchLabels, labels)) fail(where(m), 'selector.matchLabels does not match the pod labels');
  const c = spec.template?.spec?.containers?.[0] ?? {};
  const ports = c.ports ?? [];
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    const p = c[probe];
    if (!p) fail(where(m), `${probe} is missing`);
    else if (p.httpGet && !ports.some((x) => x.name === p.httpGet.port || x.containerPort === p.httpGet.port)) {
      fail(where(m), `${probe} port ${p.httpGet.port} is not a container port`);
    }
  }
  const graceMs = Number(m.env?.SHUTDOWN_GRACE_MS ?? 10000);
  const podGrace = spec.template?.spec?.terminationGracePeriodSeconds ?? 30;
  // The server exits by itself at most 5 s after SHUTDOWN_GRACE_MS.
  if (graceMs + 5000 > podGrace * 1000) fail(where(m), `SHUTDOWN_GRACE_MS ${graceMs} + 5 s exceeds terminationGracePeriodSeconds ${podGrace}`);
  for (const j of jobs) {
    const ji = podsOf(j).spec?.containers?.[0]?.image;
    if (ji !== c.image) fail(where(j), `image ${ji} differs from the Deployment's ${c.image}`);
  }
}

const podsMatching = (selector) => workloads.filter((w) => matches(selector, podsOf(w).metadata?.labels));
const containerPorts = (w) => (podsOf(w).spec?.containers ?? []).flatMap((c) => c.ports ?? []);

// -- Services select server pods only, and their target ports exist
for (const s of byKind('Service')) {
  const pods = podsMatching(s.obj.spec?.selector);
  if (!pods.some((p) => p.obj.kind === 'Deployment')) fail(where(s), 'selector matches no Deployment pods');
  for (const p of pods) if (p.obj.kind === 'Job') fail(where(s), `selector also matches Job ${p.obj.metadata.name} pods`);
  for (const port of s.obj.spec?.ports ?? []) {
    const t = port.targetPort ?? port.port;
    for (const p of pods) {
      if (!containerPorts(p).some((x) => x.name === t || x.containerPort === t)) fail(where(s), `targetPort ${t} is not a port of ${p.obj.metadata.name}`);
    }
  }
}
// -- Ingress backends exist
for (const ing of byKind('Ingress')) {
  for (const rule of ing.obj.spec?.rules ?? []) {
    for (const p of rule.http?.paths ?? []) {
      const b = p.backend?.service;
      const svc = byKind('Service').find((s) => s.obj.metadata.name === b?.name);
      if (!svc) fail(where(ing), `backend Service ${b?.name} is not defined`);
      else if (!(svc.obj.spec.ports ?? []).some((x) => x.name === b.port?.name || x.port === b.port?.number)) {
        fail(where(ing), `backend port ${JSON.stringify(b.port)} is not a port of Service ${b.name}`);
      }
    }
  }
}
// -- HPA, PDB, NetworkPolicy point at the Deployment
const minReplicas = [];
for (const h of byKind('HorizontalPodAutoscaler')) {
  const t = h.obj.spec?.scaleTargetRef ?? {};
  if (!deployments.some((d) => d.obj.metadata.name === t.name && t.kind === 'Deployment')) fail(where(h), `scaleTargetRef ${t.kind}/${t.name} is not defined`);
  if ((h.obj.spec?.minReplicas ?? 1) > h.obj.spec?.maxReplicas) fail(where(h), 'minReplicas exceeds maxReplicas');
  minReplicas.push(h.obj.spec?.minReplicas ?? 1);
}
for (const d of deployments) minReplicas.push(d.obj.spec?.replicas ?? 1);
for (const p of byKind('PodDisruptionBudget')) {
  const pods = podsMatching(p.obj.spec?.selector?.matchLabels);
  if (!pods.some((x) => x.obj.kind === 'Deployment')) fail(where(p), 'selector matches no Deployment pods');
  const min = p.obj.spec?.minAvailable;
  if (typeof min === 'number' && min >= Math.min(...minReplicas)) fail(where(p), `minAvailable ${min} leaves no pod evictable at ${Math.min(...minReplicas)} replicas`);
}
for (const np of byKind('NetworkPolicy')) {
  const pods = podsMatching(np.obj.spec?.podSelector?.matchLabels).filter((x) => x.obj.kind === 'Deployment');
  if (pods.length === 0) fail(where(np), 'podSelector matches no Deployment pods');
  for (const rule of np.obj.spec?.ingress ?? []) {
    for (const port of rule.ports ?? []) {
      for (const p of pods) {
        if (!containerPorts(p).some((x) => x.name === port.port || x.containerPort === port.port)) fail(where(np), `ingress port ${port.port} is not a port of ${p.obj.metadata.name}`);
      }
    }
  }
}

// -- docker-compose.yml: the server's environment is made of real settings with valid defaults
const SECRET_SETTINGS = new Set(['ADMIN_PASSWORD', 'JWT_SECRET', 'WEBHOOK_SECRET', 'METRICS_TOKEN']);
const composeFile = path.join(root, 'docker-compose.yml');
if (fs.existsSync(composeFile)) {
  const compose = YAML.parse(fs.readFileSync(composeFile, 'utf8'));
  for (const [name, svc] of Object.entries(compose.services ?? {})) {
    if (!svc.build) continue;
    const env = {};
    for (const [k, v] of Object.entries(svc.environment ?? {})) {
      // A secret with a fixed default is the same secret on every install that forgot to set it.
      const fixedDefault = /\$\{[A-Z0-9_]+:-([^}]+)\}/.exec(String(v ?? ''));
      if (SECRET_SETTINGS.has(k) && (fixedDefault || !/^\$\{[A-Z0-9_]+(:-|:\?)?[^}]*\}$/.test(String(v ?? '')))) {
        fail(`docker-compose.yml service ${name}`, `${k} must come from the environment with no fixed default (\${${k}:-} or \${${k}:?...})`);
      }
      env[k] = String(v ?? '').replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1');
    }
    checkEnv(`docker-compose.yml service ${name}`, env);
    console.log(`   docker-compose.yml service ${name}: ${Object.keys(env).length} env settings`);
  }
}

for (const m of all) console.log(`   ${rel(m.file)}: ${m.obj.kind}/${m.obj.metadata?.name}`);
console.log(
  `   settings: ${settings ? `${settings.size} names from ${rel(configSource)}` : 'names not checked (no app-config.ts)'}; ` +
    `values: ${loadConfig ? `checked with ${rel(compiledConfig)}` : 'not checked (run npm run build first)'}`,
);
for (const e of errors) console.log(`   error: ${e}`);
process.exit(errors.length ? 1 : 0);
NODE
}

# ---- 2. manifests against the Kubernetes API types ---------------------------------------------
check_types() {
  local k8s_version
  k8s_version="$(node -p "require('$MODULES/kubernetes-types/package.json').version")"
  cat >"$TMP/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "target": "es2022",
    "module": "node16",
    "moduleResolution": "node16",
    "types": [],
    "skipLibCheck": true
  },
  "include": ["*.ts"]
}
JSON
  echo "   $(find "$TMP" -maxdepth 1 -name "*.ts" | wc -l) documents checked against kubernetes-types $k8s_version (Kubernetes API ${k8s_version%.*})"
  (cd "$TMP" && node "$MODULES/typescript/bin/tsc" -p tsconfig.json --pretty false) | sed 's/^/   /'
}

# ---- 3. kustomize --------------------------------------------------------------------------------
check_kustomize() {
  if ! command -v kubectl >/dev/null 2>&1; then
    echo "   skipped: kubectl is not installed"
    return 0
  fi
  kubectl kustomize "$K8S_DIR" >"$TMP/rendered.yaml" || return 1
  echo "   kubectl kustomize rendered $(grep -c '^kind:' "$TMP/rendered.yaml") objects:" \
    "$(grep '^kind:' "$TMP/rendered.yaml" | awk '{print $2}' | tr '\n' ' ')"
}

# ---- 4. docker-compose.yml -----------------------------------------------------------------------
check_compose() {
  local file="$ROOT/docker-compose.yml" ok=0
  local out
  out="$(node "$MODULES/dclint/bin/dclint.cjs" --quiet --no-color "$file" 2>&1)" || { echo "$out"; ok=1; }
  echo "   dclint $(node -p "require('$MODULES/dclint/package.json').version"): Compose schema and lint rules"
  if docker compose version >/dev/null 2>&1; then
    docker compose -f "$file" config -q || ok=1
    docker compose -f "$file" --profile observability config -q || ok=1
    echo "   docker compose config -q (default and observability profiles)"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f "$file" config -q || ok=1
    docker-compose -f "$file" --profile observability config -q || ok=1
    echo "   docker-compose config -q (default and observability profiles)"
  else
    echo "   docker compose config: skipped (no Compose CLI; apt-get install docker-compose)"
  fi
  return $ok
}

# ---- 5. Dockerfile -------------------------------------------------------------------------------
check_dockerfile() {
  local file="$ROOT/Dockerfile" ok=0
  if command -v hadolint >/dev/null 2>&1; then
    hadolint "$file" || ok=1
    echo "   hadolint"
  else
    echo "   hadolint: not installed (not packaged for Debian or npm); structural checks only"
  fi
  node - "$ROOT" "$file" <<'NODE' || ok=1
const fs = require('node:fs');
const [root, file] = process.argv.slice(2);
const text = fs.readFileSync(file, 'utf8').replace(/\\\n/g, ' ');
const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const errors = [];
const args = {};
for (const l of lines) {
  const m = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)/.exec(l);
  if (m) args[m[1]] = m[2];
}
const expand = (s) => s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n) => args[n] ?? '');
const stages = [];
for (const l of lines) {
  const [instr, ...rest] = l.split(/\s+/);
  const word = instr.toUpperCase();
  if (word === 'FROM') {
    const image = expand(rest[0]);
    if (!/:[\w.-]+$|@sha256:/.test(image) || /:latest$/.test(image)) errors.push(`FROM ${image}: pin a tag`);
    stages.push({ image, lines: [] });
  } else if (stages.length) stages[stages.length - 1].lines.push({ word, rest: rest.join(' ') });
}
if (stages.length < 2) errors.push('expected a multi-stage build');
const final = stages[stages.length - 1]?.lines ?? [];
const last = (w) => final.filter((x) => x.word === w).pop();
const user = last('USER');
if (!user || !/^[1-9][0-9]*(:[0-9]+)?$/.test(user.rest)) errors.push('final stage must set a numeric non-root USER');
if (!last('HEALTHCHECK')) errors.push('final stage has no HEALTHCHECK');
for (const w of ['CMD', 'ENTRYPOINT']) {
  const x = last(w);
  if (x && !x.rest.startsWith('[')) errors.push(`${w} must use the exec (JSON) form`);
}
const cmd = last('CMD');
if (!cmd) errors.push('final stage has no CMD');
else {
  const js = JSON.parse(cmd.rest).find((a) => a.endsWith('.js'));
  const src = js && js.replace(/^dist\//, '').replace(/\.js$/, '.ts');
  if (src && !fs.existsSync(`${root}/${src}`)) errors.push(`CMD runs ${js} but ${src} does not exist`);
}
const port = /PORT=(\d+)/.exec(final.filter((x) => x.word === 'ENV').map((x) => x.rest).join(' '))?.[1];
const exposed = final.filter((x) => x.word === 'EXPOSE').map((x) => x.rest).join(' ');
if (!port || !exposed.split(/\s+/).includes(port)) errors.push(`EXPOSE (${exposed}) does not include PORT (${port})`);
for (const { word, rest } of stages.flatMap((s) => s.lines)) {
  if (word === 'ADD' && /https?:\/\//.test(rest)) errors.push('ADD of a URL: download in a RUN step with checksum');
  if (word === 'RUN' && /apt-get install/.test(rest)) {
    if (!/--no-install-recommends/.test(rest)) errors.push('apt-get install without --no-install-recommends');
    if (!/rm -rf \/var\/lib\/apt\/lists/.test(rest)) errors.push('apt-get lists not removed in the same layer');
  }
  if (word === 'RUN' && /\bnpm install\b(?!\s+--global)/.test(rest)) errors.push('use npm ci, not npm install');
}
const ignore = fs.existsSync(`${root}/.dockerignore`) ? fs.readFileSync(`${root}/.dockerignore`, 'utf8').split('\n') : [];
for (const must of ['node_modules', 'dist', '.git']) {
  if (!ignore.includes(must)) errors.push(`.dockerignore does not exclude ${must}`);
}
console.log(`   ${stages.length} stages (${stages.map((s) => s.image).join(', ')}), USER ${user?.rest}, EXPOSE ${exposed}, CMD ${cmd?.rest}`);
for (const e of errors) console.log(`   error: Dockerfile: ${e}`);
process.exit(errors.length ? 1 : 0);
NODE
  return $ok
}

run "k8s manifests: YAML, kustomization, cross-references, pod security, settings" check_manifests
run "k8s manifests: Kubernetes API types (kubernetes-types + tsc)" check_types
run "k8s kustomization renders" check_kustomize
run "docker-compose.yml" check_compose
run "Dockerfile" check_dockerfile

if ((failed > 0)); then
  echo "validate.sh: $failed of $((passed + failed)) checks FAILED"
  exit 1
fi
echo "validate.sh: all $passed checks passed"
