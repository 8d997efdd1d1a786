// Apps an analyst builds, reviewed and assigned through the API and answered by a patient in
// Chromium against a real `hale demo`, the server storing what the form showed: a field set by
// a trigger ("worst pain" takes the pain score when the score is answered), repeats inside
// repeats (visits, each with its doses), a choice among a repeat's answers, and choices and a
// price from a data file attached to the version.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDemoAndBrowser } from './harness.mjs';
import { appsOf } from './apps.mjs';

const session = withDemoAndBrowser();
const { publishAndOpen, storedAnswers } = appsOf(session);

const PAIN_CHECK = {
  title: 'Pain check',
  fields: [
    { name: 'pain', type: 'integer', label: 'Pain now (0 to 10)', min: 0, max: 10, required: true },
    { name: 'worst', type: 'integer', label: 'Worst pain today', calculation: '${pain}', trigger: ['pain'] },
    { name: 'mood', type: 'integer', label: 'Mood now (0 to 10)', min: 0, max: 10 },
    // Taken when the pain is answered, from the mood as it then stood: only the form knows it.
    { name: 'snapshot', type: 'calculate', calculation: '${pain} + coalesce(${mood}, 0)', trigger: ['pain'] },
  ],
};

test('a triggered field takes its calculation when its trigger is answered', async () => {
  const { app, subject, context, page } = await publishAndOpen('Pain check', PAIN_CHECK, 'mrn-1002');
  const worst = page.getByRole('textbox', { name: /^Worst pain today/ });
  await worst.waitFor();
  await page.getByRole('textbox', { name: /^Mood now/ }).fill('2');
  assert.equal(await worst.inputValue(), '', 'nothing is set before the trigger is answered');
  await page.getByRole('textbox', { name: /^Pain now/ }).fill('6');
  assert.equal(await worst.inputValue(), '6', 'the trigger set the field');
  await page.getByRole('textbox', { name: /^Pain now/ }).fill('4');
  assert.equal(await worst.inputValue(), '4', 'each change of the trigger sets it again');
  await page.getByRole('textbox', { name: /^Mood now/ }).fill('5');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  await page.getByText('Everything has been sent.').waitFor();

  // The calculation set by the trigger is sent as it was set (pain 4, mood 2 then), since the
  // server cannot compute it from the final answers.
  assert.deepEqual(await storedAnswers(subject, app), { pain: 4, worst: 4, mood: 5, snapshot: 6 });
  await context.close();
});

const VISITS = {
  title: 'Clinic visits',
  fields: [{
    name: 'visits', type: 'repeat', label: 'visit',
    children: [
      { name: 'day', type: 'integer', label: 'Day of the month', min: 1, max: 31, required: true },
      { name: 'doses', type: 'repeat', label: 'dose',
        children: [{ name: 'tablets', type: 'integer', label: 'Tablets', min: 0, max: 10, required: true }] },
    ],
  }],
};

test('rows of a repeat inside a repeat are added, answered and stored nested', async () => {
  const { app, subject, context, page } = await publishAndOpen('Clinic visits', VISITS, 'mrn-1003');
  await page.getByRole('button', { name: 'Add a visit' }).click();
  await page.getByRole('textbox', { name: /^Day of the month/ }).fill('3');
  await page.getByRole('button', { name: 'Add a dose' }).click();
  await page.getByRole('button', { name: 'Add a dose' }).click();
  const tablets = page.getByRole('textbox', { name: /^Tablets/ });
  assert.equal(await tablets.count(), 2, 'two dose rows inside the visit');
  await tablets.nth(0).fill('2');
  await tablets.nth(1).fill('1');
  await page.getByRole('button', { name: 'Add a visit' }).click();
  await page.getByRole('textbox', { name: /^Day of the month/ }).nth(1).fill('17');
  await page.getByRole('button', { name: 'Add a dose' }).nth(1).click();
  await page.getByRole('textbox', { name: /^Tablets/ }).nth(2).fill('4');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  await page.getByText('Everything has been sent.').waitFor();
  assert.deepEqual(await storedAnswers(subject, app), {
    visits: [{ day: 3, doses: [{ tablets: 2 }, { tablets: 1 }] }, { day: 17, doses: [{ tablets: 4 }] }],
  });
  await context.close();
});

const MEDICINES = {
  title: 'Side effects',
  fields: [
    { name: 'medicines', type: 'repeat', label: 'medicine',
      children: [{ name: 'medicine', type: 'text', label: 'Medicine', required: true,
        purpose: 'To ask which medicine had side effects' }] },
    { name: 'culprit', type: 'select_one', label: 'Which one gave you side effects?', choices_from: 'medicine' },
  ],
};

test('a choice among the answers of a repeat offers what the rows hold, and drops what they no longer give', async () => {
  const { app, subject, context, page } = await publishAndOpen('Side effects', MEDICINES, 'mrn-1001');
  await page.getByRole('button', { name: 'Add a medicine' }).click();
  await page.getByRole('textbox', { name: /^Medicine/ }).fill('Aspirin');
  await page.getByRole('button', { name: 'Add a medicine' }).click();
  await page.getByRole('textbox', { name: /^Medicine/ }).nth(1).fill('Ibuprofen');
  const offered = page.getByRole('group', { name: /^Which one/ }).getByRole('radio');
  await page.getByRole('radio', { name: 'Ibuprofen', exact: true }).waitFor();
  assert.equal(await offered.count(), 2, 'one choice per row');
  await page.getByRole('radio', { name: 'Ibuprofen', exact: true }).check();
  // Another row changing keeps the choice; the chosen row changing drops it, so that what is
  // sent is what the person last saw chosen.
  await page.getByRole('textbox', { name: /^Medicine/ }).first().fill('Paracetamol');
  await page.getByRole('radio', { name: 'Paracetamol', exact: true }).waitFor();
  assert.ok(await page.getByRole('radio', { name: 'Ibuprofen', exact: true }).isChecked(), 'the choice stays');
  await page.getByRole('textbox', { name: /^Medicine/ }).nth(1).fill('Naproxen');
  await page.getByRole('radio', { name: 'Naproxen', exact: true }).waitFor();
  assert.equal(await offered.count(), 2);
  assert.equal(await page.getByRole('radio', { checked: true }).count(), 0, 'nothing stays chosen');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  await page.getByText('Everything has been sent.').waitFor();
  assert.deepEqual(await storedAnswers(subject, app), {
    medicines: [{ medicine: 'Paracetamol' }, { medicine: 'Naproxen' }],
  });
  await context.close();
});

const FRUIT = {
  title: 'Fruit order',
  fields: [
    { name: 'fruit', type: 'select_one', label: 'Which fruit?', choice_file: 'fruits.csv', required: true },
    { name: 'price', type: 'calculate', calculation: "pulldata('fruits', 'price', 'name', ${fruit})" },
    {
      name: 'qty', type: 'integer', label: 'How many?', required: true,
      constraint: '. * ${price} <= 10', constraint_message: 'At most 10 to spend',
    },
    { name: 'taste', type: 'rank', label: 'Best tasting first', choice_file: 'fruits.csv' },
    {
      name: 'box', type: 'text', label: 'Box size', default: 'standard', purpose: 'To pack the order',
      read_only_if: "${fruit} = 'mango'",
    },
  ],
};

test('choices, a ranking and a pulldata() value come from a data file attached to the version', async () => {
  const files = { 'fruits.csv': 'name,label,price\nmango,Mango,3\nkiwi,Kiwi,2\n' };
  const { app, subject, context, page } = await publishAndOpen('Fruit order', FRUIT, 'mrn-1001', files);
  const offered = page.getByRole('group', { name: /^Which fruit/ }).getByRole('radio');
  await page.getByRole('radio', { name: 'Mango', exact: true }).waitFor();
  assert.equal(await offered.count(), 2, 'one choice per row of the file');
  // The box size is read-only while the fruit is a mango: it keeps its default.
  const box = page.getByRole('textbox', { name: /^Box size/ });
  await page.getByRole('radio', { name: 'Kiwi', exact: true }).check();
  assert.ok(await box.isEditable(), 'editable for a kiwi');
  await page.getByRole('radio', { name: 'Mango', exact: true }).check();
  assert.ok(!(await box.isEditable()), 'read-only for a mango');
  assert.equal(await box.inputValue(), 'standard');
  await page.getByRole('textbox', { name: /^How many/ }).fill('4');
  // A field shows its errors once left for another: four mangoes at the file's price are too
  // dear.
  await page.getByRole('radio', { name: 'Mango', exact: true }).focus();
  await page.getByText('At most 10 to spend').waitFor();
  await page.getByRole('textbox', { name: /^How many/ }).fill('3');
  await page.getByText('At most 10 to spend').waitFor({ state: 'detached' });
  // The ranking lists the file's rows in its order; moving one up orders the answer.
  const ranked = page.getByRole('list').filter({ has: page.getByRole('button', { name: 'Move Kiwi up' }) }).getByRole('listitem');
  assert.deepEqual(await ranked.allInnerTexts().then((items) => items.map((item) => item.split('\n')[0])), ['Mango', 'Kiwi']);
  assert.ok(await page.getByRole('button', { name: 'Move Mango up' }).isDisabled(), 'the first cannot go higher');
  await page.getByRole('button', { name: 'Move Kiwi up' }).click();
  assert.deepEqual(await ranked.allInnerTexts().then((items) => items.map((item) => item.split('\n')[0])), ['Kiwi', 'Mango']);
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  await page.getByText('Everything has been sent.').waitFor();
  const stored = await storedAnswers(subject, app);
  assert.equal(stored.fruit, 'mango');
  assert.equal(stored.qty, 3);
  assert.deepEqual(stored.taste, ['kiwi', 'mango']);
  assert.equal(stored.box, 'standard');
  await context.close();
});
