import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import {
  ActivityFailure,
  ApplicationFailure,
  WorkflowFailedError,
  type Client,
  type Connection,
} from '@temporalio/client';
import type { PipelineResult } from '../workflows/types';
import { testClient, uniqueId } from './helpers';

/**
 * The Temporal Web UI served by the test stack, driven like a user would in Debian's Chromium (headless): start a
 * pipeline from the Start Workflow form, see it complete or fail, find runs by pipeline. The UI is a Svelte app, so
 * elements are found by label, role and text, not by CSS classes.
 */

const CHROMIUM = process.env.MLPIPE_CHROMIUM ?? '/usr/bin/chromium';
/** The README's picture; rewritten only when missing or with MLPIPE_UPDATE_SCREENSHOTS=1, so a test run leaves git clean. */
const SCREENSHOT = path.join(__dirname, '..', 'docs', 'images', 'ui-start-workflow.png');
/** A fixed id, so the picture is the same on every run (the stack is new each time). */
const HELLO_ID = 'hello-from-the-ui';

let client: Client;
let connection: Connection;
let browser: BrowserContext;
let page: Page;
let ui: string;
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mlpipe-chromium-'));
const badId = uniqueId('ui-unknown-pipeline');

beforeAll(async () => {
  ({ client, connection } = await testClient());
  ui = inject('stack').uiUrl;
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    // Without the background-networking flags Chromium keeps trying to reach Google from a closed network.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
    timezoneId: 'UTC',
    locale: 'en-US',
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(30_000);
});

afterAll(async () => {
  await browser?.close();
  await connection?.close();
  fs.rmSync(profile, { recursive: true, force: true });
});

/** Fills the Start Workflow form as the README says: type `pipeline`, queue `mlpipe`, the input as JSON. */
async function fillStartForm(workflowId: string, input: string): Promise<void> {
  await page.goto(`${ui}/namespaces/default/workflows/start-workflow`);
  await page.getByLabel('Workflow ID').fill(workflowId);
  await page.getByLabel('Task Queue').fill('mlpipe');
  await page.getByLabel('Workflow Type').fill('pipeline');
  // Data is a code editor: type into it. Closing brackets it adds itself are typed over.
  await page.getByLabel('Data').click();
  await page.keyboard.type(input);
  // Leaving the editor reformats the JSON and moves the button: leave it before clicking Start.
  await page.getByRole('heading', { name: 'Start Workflow' }).click();
  await page.getByText('Task Queue is Active').waitFor(); // the UI checks that a worker polls `mlpipe`
}

/** Clicks Start Workflow and follows the link of the toast to the run's page. */
async function submitAndOpenRun(): Promise<void> {
  await page.getByTestId('start-workflow-button').click();
  await page.getByRole('link', { name: 'Workflow started successfully' }).click();
}

/** Waits until the run's page shows `status` (its badge), reloading while the run is still going. */
async function waitForStatus(status: 'Completed' | 'Failed', timeoutMs = 60_000): Promise<void> {
  const badge = page
    .locator('main')
    .getByText(new RegExp(`^${status}$`, 'i'))
    .first();
  const deadline = Date.now() + timeoutMs;
  while (!(await badge.isVisible())) {
    if (Date.now() > deadline) throw new Error(`the run page did not show ${status} in ${timeoutMs} ms`);
    await page.waitForTimeout(1000);
    if (!(await badge.isVisible())) await page.reload();
  }
}

describe('the Temporal Web UI', () => {
  it('starts a pipeline from the Start Workflow form and shows the run complete', async () => {
    await fillStartForm(HELLO_ID, '{"pipeline": "hello", "params": {}}');
    // The whole form, from Workflow ID to the Start button, in one 1280x800 picture.
    await page.getByText('Workflow ID', { exact: true }).evaluate((e) => e.scrollIntoView({ block: 'start' }));
    if (!fs.existsSync(SCREENSHOT) || process.env.MLPIPE_UPDATE_SCREENSHOTS) {
      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });
    }
    await submitAndOpenRun();
    await expect.poll(() => page.url()).toContain(`/workflows/${HELLO_ID}/`);
    await waitForStatus('Completed');
    await page
      .locator('main')
      .getByText(/"greeting":\s*"hello, world"/)
      .first()
      .waitFor();

    // And Temporal agrees.
    const handle = client.workflow.getHandle(HELLO_ID);
    const result = (await handle.result()) as PipelineResult;
    expect(result.outputs).toMatchObject({ greeting: 'hello, world', shouted: 'HELLO, WORLD!' });
    const described = await handle.describe();
    expect(described.status.name).toBe('COMPLETED');
    expect(described.searchAttributes.MlpipePipeline).toEqual(['hello']);
  });

  it('shows an unknown pipeline failing fast, with a non-retryable PipelineNotFound', async () => {
    await fillStartForm(badId, '{"pipeline": "no-such-pipeline", "params": {}}');
    await submitAndOpenRun();
    await waitForStatus('Failed');
    await page.getByRole('button', { name: 'Maximize Result' }).click();
    await page
      .getByText(/PipelineNotFound/)
      .first()
      .waitFor();
    await page
      .getByText(/no pipeline named \\?"no-such-pipeline\\?"/)
      .first()
      .waitFor();
    await page.keyboard.press('Escape');

    // One attempt, no retries: the failure is typed non-retryable, and the run ended at once.
    const handle = client.workflow.getHandle(badId);
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const activity = (err as WorkflowFailedError).cause as ActivityFailure;
    expect(activity).toBeInstanceOf(ActivityFailure);
    expect(activity.retryState).toBe('NON_RETRYABLE_FAILURE');
    const cause = activity.cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({ type: 'PipelineNotFound', nonRetryable: true });
    const d = await handle.describe();
    expect(d.closeTime!.getTime() - d.startTime.getTime()).toBeLessThan(10_000);
  });

  it('finds runs by pipeline with MlpipePipeline in the query box', async () => {
    await page.goto(`${ui}/namespaces/default/workflows`);
    await page.getByTestId('toggle-manual-query').click();
    const query = page.getByPlaceholder('Enter a query');
    await query.fill('MlpipePipeline = "hello"');
    await query.press('Enter');
    await expect.poll(() => new URL(page.url()).searchParams.get('query')).toBe('MlpipePipeline = "hello"');
    await page.getByRole('link', { name: HELLO_ID }).waitFor();
    // The run of the unknown pipeline never got that far (MlpipePipeline is set once the definition is found).
    expect(await page.getByRole('link', { name: badId }).count()).toBe(0);
  });
});
