import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_IMAGE_DIRECTORY as imageDir } from '../../lib/proxy-image.js';
import { itWithTool } from '../lib/tools.js';

const NODE_PATH = '/usr/libexec/egress-proxy/node';
const units = ['egress-proxy.service', 'egress-proxy-sidecar.service'];
const unitText = (unit: string) => readFileSync(join(imageDir, 'systemd', unit), 'utf8');
const scripts = readdirSync(imageDir).filter((f) => f.endsWith('.sh'));

/**
 * Copies of the units whose ExecStart points at a stub instead of the image's node path, which
 * does not exist on the test machine (systemd-analyze verify checks that the binary exists).
 */
function unitsWithStubNode(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'egress-proxy-units-'));
  const stub = join(dir, 'node');
  writeFileSync(stub, '#!/bin/sh\n');
  chmodSync(stub, 0o755);
  return units.map((unit) => {
    const path = join(dir, unit);
    writeFileSync(path, unitText(unit).replaceAll(NODE_PATH, stub));
    return path;
  });
}

describe('systemd units', () => {
  itWithTool(
    'systemd-analyze',
    'Debian package systemd',
    'pass systemd-analyze verify with no warnings',
    () => {
      const run = spawnSync('systemd-analyze', ['verify', ...unitsWithStubNode()], { encoding: 'utf8' });
      // verify exits 0 on unknown keys and bad values; they only show up as messages.
      expect(`${run.stdout}${run.stderr}`.trim()).toBe('');
      expect(run.status).toBe(0);
    },
  );

  itWithTool(
    'systemd-analyze',
    'Debian package systemd',
    'are well sandboxed (systemd-analyze security ≤ 2.5)',
    () => {
      for (const path of unitsWithStubNode()) {
        const run = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=25', path], {
          encoding: 'utf8',
        });
        expect(run.status, `${path}\n${run.stdout}${run.stderr}`).toBe(0);
        expect(run.stdout).toMatch(/Overall exposure level for .*: [0-2]\.\d/);
      }
    },
  );

  it.each(units)('%s restarts, but stays down after a crash loop', (unit) => {
    const text = unitText(unit);
    expect(text).toMatch(/^Restart=always$/m);
    expect(text).toMatch(/^RestartSec=\d+$/m);
    expect(text).toMatch(/^StartLimitIntervalSec=\d+$/m);
    expect(text).toMatch(/^StartLimitBurst=\d+$/m);
    // 78: invalid config. The proxy also stays down after a requested drain (exit 0, lifecycle).
    expect(text).toMatch(
      unit === 'egress-proxy.service' ? /^RestartPreventExitStatus=0 78$/m : /^RestartPreventExitStatus=78$/m,
    );
    expect(text).toMatch(/^Type=exec$/m);
    expect(text).toMatch(/^User=egress-proxy$/m);
    expect(text).toMatch(/^LimitNOFILE=\d{5,}$/m);
    expect(text).toContain(`ExecStart=${NODE_PATH} /opt/egress-proxy/`);
  });

  it.each(units)('%s is sandboxed without breaking V8', (unit) => {
    const text = unitText(unit);
    for (const line of [
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'PrivateDevices=yes',
      'CapabilityBoundingSet=',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    ]) {
      expect(text).toMatch(new RegExp(`^${line}$`, 'm'));
    }
    expect(text).not.toMatch(/^MemoryDenyWriteExecute=/m);
  });

  it('keeps the sidecar independent of the proxy', () => {
    expect(unitText('egress-proxy-sidecar.service')).not.toMatch(
      /^(BindsTo|Requires|PartOf|Requisite)=.*egress-proxy/m,
    );
  });

  it('gives the proxy a reload that re-reads its policy', () => {
    expect(unitText('egress-proxy.service')).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  });
});

describe('scripts', () => {
  it('include the distribution-neutral installer and the AL2023-specific steps', () => {
    expect(scripts).toEqual(
      expect.arrayContaining([
        'install.sh',
        'install-node-al2023.sh',
        'install-logging-al2023.sh',
        'smoke-test.sh',
      ]),
    );
  });

  itWithTool('shellcheck', 'Debian package shellcheck', 'pass shellcheck', () => {
    const run = spawnSync('shellcheck', ['--external-sources', ...scripts], {
      cwd: imageDir,
      encoding: 'utf8',
    });
    expect(`${run.stdout}${run.stderr}`.trim()).toBe('');
    expect(run.status).toBe(0);
  });

  it('install.sh installs the units disabled and the host tuning', () => {
    const text = readFileSync(join(imageDir, 'install.sh'), 'utf8');
    expect(text).toMatch(/systemctl disable egress-proxy.service egress-proxy-sidecar.service/);
    expect(text).not.toMatch(/systemctl enable/);
    expect(text).toContain('/etc/sysctl.d/60-egress-proxy.conf');
    expect(text).not.toMatch(/\b(dnf|yum|apt-get|apt)\b/);
  });

  it('host tuning raises somaxconn and widens the local port range', () => {
    const text = readFileSync(join(imageDir, 'host', '60-egress-proxy-sysctl.conf'), 'utf8');
    expect(text).toMatch(/^net\.core\.somaxconn = \d+$/m);
    expect(text).toMatch(/^net\.ipv4\.ip_local_port_range = \d+ \d+$/m);
  });
});

describe('log shipping', () => {
  const rule = join(imageDir, 'host', '60-egress-proxy-rsyslog.conf');

  it('writes only the message, so each shipped line is one JSON object', () => {
    expect(readFileSync(rule, 'utf8')).toMatch(
      /template\(name="EgressProxyJsonLine" type="string" string="%msg%\\n"\)/,
    );
  });

  itWithTool('rsyslogd', 'Debian package rsyslog', 'the rsyslog rule passes rsyslogd -N1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-proxy-rsyslog-'));
    const main = join(dir, 'rsyslog.conf');
    writeFileSync(main, `module(load="imuxsock")\n$IncludeConfig ${rule}\n`);
    const run = spawnSync('rsyslogd', ['-N1', '-f', main], { encoding: 'utf8' });
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    expect(run.stderr).not.toMatch(/error/i);
  });
});

describe('component documents', () => {
  const doc = readFileSync(join(imageDir, 'component.yaml'), 'utf8');
  const testDoc = readFileSync(join(imageDir, 'test-component.yaml'), 'utf8');
  const phasesOf = (text: string): (string | undefined)[] =>
    [...text.matchAll(/^ {2}- name: (\w+)$/gm)].map((m) => m[1]);

  it('build component: build and validate phases, validate requires /healthcheck 200', () => {
    expect(phasesOf(doc)).toEqual(['build', 'validate']);
    expect(doc.match(/smoke-test\.sh/g)).toHaveLength(1);
    expect(readFileSync(join(imageDir, 'smoke-test.sh'), 'utf8')).toMatch(/== 200/);
  });

  it('test component: the test phase alone (else Image Builder skips it in the test stage)', () => {
    expect(phasesOf(testDoc)).toEqual(['test']);
    expect(testDoc).toContain('/usr/libexec/egress-proxy/smoke-test.sh');
  });

  it('runs only scripts that exist in image/', () => {
    for (const [, script] of doc.matchAll(/\/tmp\/egress-proxy\/image\/([\w.-]+\.sh)/g)) {
      expect(scripts).toContain(script);
    }
  });

  it('takes the two asset locations the stack passes', () => {
    expect(doc).toContain('{{ BundleS3Uri }}');
    expect(doc).toContain('{{ ImageFilesS3Uri }}');
  });
});
