import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  TranslationError,
  Translator,
  commandReply,
  knownLanguages,
  resolvePair,
  routeReply,
  runApertium,
  settingsFrom,
  splitCommandArgs,
} from '../core.js';
import type { JsonValue } from 'pincer/plugin';
import type { Availability, TranslationConfig } from '../models.js';

// These tests run the real apertium with its eng-spa data (Debian: apertium apertium-eng-spa).
const defaults: TranslationConfig = {
  apertium_path: 'apertium',
  default_pair: 'eng-spa',
  timeout_ms: 10_000,
  max_length: 5000,
  mark_unknown: false,
  languages: { en: 'eng', es: 'spa', fr: 'fra' },
};

function translator(overrides: Partial<TranslationConfig> = {}, recheckMs?: number) {
  const changes: Availability[] = [];
  const t = new Translator(settingsFrom({ ...defaults, ...overrides }), (a) => changes.push(a), recheckMs);
  return { t, changes };
}

const dir = mkdtempSync(join(tmpdir(), 'pincer-translation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

async function failure(promise: Promise<unknown>): Promise<TranslationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TranslationError);
  return error as TranslationError;
}

describe('translation pairs and arguments', () => {
  const languages = defaults.languages;

  it('maps ISO 639-1 codes to Apertium codes and keeps variants', () => {
    expect(resolvePair('en-es', languages)).toBe('eng-spa');
    expect(resolvePair('EN-ES', languages)).toBe('eng-spa');
    expect(resolvePair('es-en_US', languages)).toBe('spa-eng_US');
    expect(resolvePair('spa-eng', languages)).toBe('spa-eng');
  });

  it('refuses something that is not a pair', () => {
    expect(() => resolvePair('english to spanish', languages)).toThrow(/is not a language pair/);
  });

  it('takes the first word as a pair only when both its languages are known', () => {
    const known = knownLanguages(languages, ['eng-spa', 'spa-eng_US']);
    expect(splitCommandArgs('en-es Hello friend', known)).toEqual({ pair: 'en-es', text: 'Hello friend' });
    expect(splitCommandArgs('spa-eng_US Hola\namigo', known)).toEqual({ pair: 'spa-eng_US', text: 'Hola\namigo' });
    expect(splitCommandArgs('Hello friend', known)).toEqual({ text: 'Hello friend' });
    expect(splitCommandArgs('re-do it now', known)).toEqual({ text: 're-do it now' });
    expect(splitCommandArgs('en-es', known)).toEqual({ pair: 'en-es', text: '' });
  });
});

describe('translation with apertium', () => {
  it('translates with the default pair and with a named one', async () => {
    const { t, changes } = translator();
    expect(await t.check()).toEqual({ installed: expect.arrayContaining(['eng-spa', 'spa-eng']) });
    expect(changes).toEqual([]);

    expect(await t.translate('Hello')).toEqual({ translation: 'Hola', pair: 'eng-spa' });
    expect(await t.translate('Necesito estudiar.', 'es-en')).toEqual({
      translation: 'I need to study.',
      pair: 'spa-eng',
    });
    expect(await t.pairs()).toContain('spa-eng');
    // Spanish drops the subject; the space Apertium leaves for it is trimmed.
    expect((await t.translate('I love this place')).translation).toBe('Quiero este sitio');
  });

  it('keeps lines and non-ASCII text intact', async () => {
    const { t } = translator();
    expect((await t.translate('Buenos días.\n¿Dónde está la biblioteca?', 'es-en')).translation).toBe(
      'Good morning.\nWhere it is the library?',
    );
  });

  it('hides unknown-word marks unless configured to keep them', async () => {
    expect((await translator().t.translate('Hello Zorbleflax')).translation).toBe('Hola Zorbleflax');
    expect((await translator({ mark_unknown: true }).t.translate('Hello Zorbleflax')).translation).toBe(
      'Hola *Zorbleflax',
    );
  });

  it('refuses empty and overlong text', async () => {
    const { t } = translator({ max_length: 10 });
    expect((await failure(t.translate('   '))).code).toBe('bad_request');
    expect(await failure(t.translate('Hello there, friend'))).toMatchObject({
      code: 'bad_request',
      message: 'the text is 19 characters long; the limit is 10',
    });
  });

  it('answers the command with the translation, or usage', async () => {
    const { t } = translator();
    expect(await commandReply(t, 'en-es Good morning', 'eng-spa')).toEqual({
      text: 'Buenos días',
      data: { translation: 'Buenos días', pair: 'eng-spa' },
    });
    expect(await commandReply(t, 'en-es', 'eng-spa')).toMatch(/^Usage: \/translate \[pair\] <text>/);
  });

  it('answers the route with the translation or a 400', async () => {
    const { t } = translator();
    expect(await routeReply(t, { text: 'Hello', pair: 'en-es' })).toEqual({
      status: 200,
      body: { translation: 'Hola', pair: 'eng-spa' },
    });
    expect(await routeReply(t, { text: 'Hello', pair: null })).toMatchObject({ status: 200 });
    const badBodies: (JsonValue | undefined)[] = [
      undefined,
      null,
      'Hello',
      ['Hello'],
      {},
      { text: 3 },
      { text: 'Hi', pair: 7 },
      { text: '' },
    ];
    for (const body of badBodies) {
      expect(await routeReply(t, body)).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    }
    expect(await routeReply(t, { text: 'Hello', pair: 'english' })).toMatchObject({
      status: 400,
      body: {
        error: { code: 'bad_request', message: '"english" is not a language pair; write it like en-es or eng-spa' },
      },
    });
  });
});

describe('translation without apertium or a pair', () => {
  it('reports a missing binary with how to install it, and never translates', async () => {
    const { t, changes } = translator({ apertium_path: join(dir, 'no-such-apertium') });
    const expected =
      `apertium was not found at "${join(dir, 'no-such-apertium')}"; ` +
      'install with: apt-get install apertium apertium-eng-spa';

    const availability = await t.check();
    expect(availability.installed).toEqual([]);
    expect(availability.problem).toContain(expected);
    expect(changes).toEqual([availability]);

    expect(await failure(t.translate('Hello'))).toMatchObject({ code: 'unavailable' });
    expect(await t.pairs()).toEqual([]);
    expect(await commandReply(t, 'Hello', 'eng-spa')).toContain(`Translation is unavailable: ${expected}`);
    expect(await routeReply(t, { text: 'Hello' })).toMatchObject({
      status: 503,
      body: { error: { code: 'unavailable', message: expect.stringContaining(expected) } },
    });
  });

  it('reports a missing default pair but still serves installed pairs', async () => {
    const { t, changes } = translator({ default_pair: 'en-fr' });
    const availability = await t.check();
    expect(availability.problem).toMatch(/^the default pair eng-fra is not installed \(installed: .*eng-spa.*\); /);
    expect(availability.problem).toContain('install with: apt-get install apertium apertium-eng-fra ');
    expect(changes).toEqual([availability]);

    expect(await failure(t.translate('Hello'))).toMatchObject({ code: 'unavailable' });
    expect(await t.translate('Hello', 'en-es')).toEqual({ translation: 'Hola', pair: 'eng-spa' });
    expect(await routeReply(t, { text: 'Hello' })).toMatchObject({ status: 503 });
  });

  it('refuses a pair that is not installed', async () => {
    const { t } = translator();
    expect(await failure(t.translate('Hello', 'en-fr'))).toMatchObject({
      code: 'unknown_pair',
      message: expect.stringMatching(/^the pair eng-fra is not installed \(installed: .*eng-spa/),
    });
    expect(await routeReply(t, { text: 'Hello', pair: 'fr-en' })).toMatchObject({
      status: 400,
      body: { error: { code: 'unknown_pair' } },
    });
    expect(await commandReply(t, 'en-fr Hello', 'eng-spa')).toMatch(
      /^Cannot translate: the pair eng-fra is not installed/,
    );
  });

  it('recovers once apertium appears, without a restart', async () => {
    const path = join(dir, 'apertium-later');
    const { t, changes } = translator({ apertium_path: path }, 0);
    expect((await t.check()).problem).toContain('was not found');

    script('apertium-later', 'exec apertium "$@"');
    expect(await t.translate('Hello')).toEqual({ translation: 'Hola', pair: 'eng-spa' });
    expect(changes.map((c) => c.problem === undefined)).toEqual([false, true]);
  });

  it('kills the whole apertium pipeline when it takes too long', async () => {
    const pidFile = join(dir, 'sleeper.pid');
    const slow = script('slow-apertium', `sleep 30 &\necho $! > "${pidFile}"\nwait`);
    await expect(runApertium(slow, ['eng-spa'], 'Hello', 300)).rejects.toMatchObject({
      code: 'timeout',
      message: 'apertium took longer than 300 ms',
    });
    const sleeper = Number(readFileSync(pidFile, 'utf8'));
    await expect.poll(() => isGone(sleeper), { timeout: 2000 }).toBe(true);
  });

  it('treats exit 0 with an error and no output as a failure, not an empty translation', async () => {
    const quiet = script('quiet-apertium', 'echo "USAGE: apertium-destxt [ -h | -o | -i | -n ]" >&2');
    await expect(runApertium(quiet, ['-u', 'eng-spa'], 'Hello', 5000)).rejects.toMatchObject({
      code: 'failed',
      message: 'apertium -u eng-spa failed: USAGE: apertium-destxt [ -h | -o | -i | -n ]',
    });
  });

  it('reports a failing apertium run with its error', async () => {
    const broken = script('broken-apertium', 'echo "Error: Mode eng-spa does not exist." >&2\nexit 1');
    await expect(runApertium(broken, ['eng-spa'], 'Hello', 5000)).rejects.toMatchObject({
      code: 'failed',
      message: 'apertium eng-spa failed: Error: Mode eng-spa does not exist.',
    });
  });
});

/** True once the process has exited (a zombie awaiting its reaper counts as gone). */
function isGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z';
  } catch {
    return true;
  }
}
