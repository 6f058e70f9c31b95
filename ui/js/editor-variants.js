// The sequence editor's product variants: each a name, the identify field and value that choose
// it, and limits by step name (a step inside a group included), each edited with the same limit
// widget as a measure step's. The first variant that matches a unit is its run's; a unit no variant
// matches is judged by the steps' own limits. Paths follow the daemon's problems:
// variants[0].when.field, variants[0].limits.Battery voltage.high.
/* global structuredClone */
import { el } from './dom.js';
import { judgedSteps } from './editor-kinds.js';
import { formatPath } from './paths.js';

/** The variants block of `form` (a SequenceForm), over form.def.variants. */
export function variantsFieldset(form) {
  const def = form.def || {};
  const variants = Array.isArray(def.variants) ? def.variants : [];
  const judged = judgedSteps(def);
  const add = () =>
    form.rebuild(() => {
      const names = new Set(variants.map((v) => v && v.name));
      let n = variants.length + 1;
      while (names.has(`variant-${n}`)) n++;
      def.variants = [...variants, { name: `variant-${n}`, when: { field: 'model', equals: 'MODEL' }, limits: {} }];
    });
  const fs = el(
    'fieldset',
    { className: 'variants', dataset: { fieldPath: 'variants' } },
    el('legend', { text: 'Product variants' }),
    el('p', {
      className: 'muted variants-note',
      text: "Once the unit is identified, the first variant whose field it reported with that value is the run's: its limits judge those steps instead of their own. A unit no variant matches uses the steps' own limits.",
    }),
    variants.map((v, i) => variantFieldset(form, variants, i, judged)),
    el('div', {}, el('button', { type: 'button', text: '+ Add variant', dataset: { action: 'add-variant' }, on: { click: add } })),
    form.problemSlot('variants'),
  );
  form.register('variants', fs);
  return fs;
}

function variantFieldset(form, variants, i, judged) {
  const v = variants[i] && typeof variants[i] === 'object' ? variants[i] : {};
  const parts = ['variants', i];
  const path = formatPath(parts);
  const limits = v.limits && typeof v.limits === 'object' ? v.limits : {};
  const byName = new Map(judged.map((s) => [s.name, s]));
  const remove = () =>
    form.rebuild(() => {
      variants.splice(i, 1);
      if (variants.length === 0) delete form.def.variants;
    });
  const move = (by) =>
    form.rebuild(() => {
      [variants[i], variants[i + by]] = [variants[i + by], variants[i]];
    });

  const limitRows = Object.entries(limits).map(([stepName, limit]) => {
    const stepSelect = el(
      'select',
      { attrs: { 'aria-label': `variant ${i + 1}: step of this limit` }, dataset: { variantStep: `${i}:${stepName}` } },
      [...new Set([stepName, ...byName.keys()])].map((n) => el('option', { value: n, text: n, selected: n === stepName })),
    );
    stepSelect.addEventListener('change', () => {
      const to = stepSelect.value;
      if (to === stepName || to in limits) return;
      // Keep the order of the limits; only the key changes.
      form.rebuild(() => {
        v.limits = Object.fromEntries(Object.entries(limits).map(([k, l]) => [k === stepName ? to : k, l]));
      });
    });
    const drop = el('button', {
      type: 'button',
      text: '✗',
      attrs: { 'aria-label': `remove the limit for ${stepName} from variant ${i + 1}` },
      on: {
        click: () =>
          form.rebuild(() => {
            delete limits[stepName];
          }),
      },
    });
    return form.limitFieldset([...parts, 'limits', stepName], limit, byName.get(stepName), {
      optional: false,
      legend: ['limit for ', stepSelect, ' '],
      name: `variant ${i + 1} limit for ${stepName}`,
      tools: drop,
    });
  });

  const free = judged.filter((s) => !(s.name in limits));
  const pick = el(
    'select',
    { attrs: { 'aria-label': `variant ${i + 1}: step to give a limit` }, dataset: { addLimitStep: String(i) } },
    free.map((s) => el('option', { value: s.name, text: s.name })),
  );
  const addLimit = () => {
    const step = byName.get(pick.value);
    if (!step) return;
    // Start from the step's own limit: the variant usually moves one bound.
    form.rebuild(() => {
      v.limits = { ...limits, [step.name]: step.limit ? structuredClone(step.limit) : { kind: 'range', low: 0 } };
    });
  };
  const limitsWrap = el(
    'div',
    { className: 'variant-limits', dataset: { fieldPath: formatPath([...parts, 'limits']) } },
    limitRows,
    free.length ? el('div', { className: 'add-step' }, pick, el('button', { type: 'button', text: '+ Limit for this step', dataset: { addLimit: String(i) }, on: { click: addLimit } })) : null,
    form.problemSlot(formatPath([...parts, 'limits'])),
  );
  form.register(formatPath([...parts, 'limits']), limitsWrap);

  const fs = el(
    'fieldset',
    { className: 'variant', dataset: { fieldPath: path, variant: i } },
    el(
      'legend',
      {},
      el('span', { text: `Variant ${i + 1}` }),
      el(
        'span',
        { className: 'step-tools' },
        el('button', { type: 'button', text: '↑', disabled: i === 0, attrs: { 'aria-label': `move variant ${i + 1} up` }, on: { click: () => move(-1) } }),
        el('button', { type: 'button', text: '↓', disabled: i === variants.length - 1, attrs: { 'aria-label': `move variant ${i + 1} down` }, on: { click: () => move(1) } }),
        el('button', { type: 'button', text: '✗ remove', attrs: { 'aria-label': `remove variant ${i + 1}` }, on: { click: remove } }),
      ),
    ),
    form.field([...parts, 'name'], 'text', 'name', v.name),
    form.field([...parts, 'when', 'field'], 'text', 'when the field', v.when && v.when.field),
    form.field([...parts, 'when', 'equals'], 'text', 'equals', v.when && v.when.equals),
    limitsWrap,
    form.otherKeys(parts, v, new Set(['name', 'when', 'limits'])),
    form.problemSlot(path),
    form.problemSlot(formatPath([...parts, 'when'])),
  );
  form.register(path, fs);
  form.register(formatPath([...parts, 'when']), fs);
  return fs;
}
