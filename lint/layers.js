// The lint rule that keeps ferry's layers one-way: a file may import from its own layer and from
// the layers below it, never from one above. The order itself is declared once, in
// eslint.config.js (LAYERS); this file only applies it. Relative imports are resolved against the
// importing file, so `../../activities/x.ts` from hosts/agent/ is known for what it is, whatever
// the folder depth; package imports are not ferry's layers and pass.
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * @typedef {{ name: string, folders: string[], typesOnlyBelow?: boolean, valuesFrom?: string[] }} Layer
 * @typedef {{ root: string, layers: Layer[] }} Options
 */

/** @param {Layer[]} layers */
function describeOrder(layers) {
  return layers.map((l) => l.folders.join(', ')).join(' → ');
}

/**
 * The options eslint.config.js gives (eslint has checked them against the schema below).
 * @param {unknown} raw
 * @returns {Options}
 */
function optionsOf(raw) {
  return /** @type {Options} */ (raw);
}

/** @type {import('eslint').Rule.RuleModule} */
export const oneWay = {
  meta: {
    type: 'problem',
    docs: { description: 'imports run down the layers declared in eslint.config.js, never up' },
    schema: [
      {
        type: 'object',
        properties: { root: { type: 'string' }, layers: { type: 'array' } },
        required: ['root', 'layers'],
        additionalProperties: false,
      },
    ],
    messages: {
      upward:
        '{{from}} may not import {{to}} ({{spec}}): layers run {{order}}; a file imports from its own layer and those below it.',
      typesOnly:
        "{{from}} may import {{to}} only as types (`import type`, {{spec}}): workflow code runs in Temporal's sandbox and must not bundle what runs below it; layers run {{order}}.",
    },
  },
  create(context) {
    const { root, layers } = optionsOf(context.options[0]);
    const order = describeOrder(layers);
    /** @param {string} file absolute path */
    const layerOf = (file) => {
      const rel = relative(root, file);
      if (rel.startsWith('..') || isAbsolute(rel)) return undefined;
      const top = rel.split(sep)[0];
      const index = layers.findIndex((l) => l.folders.includes(top));
      return index < 0 ? undefined : { index, layer: /** @type {Layer} */ (layers[index]), top };
    };
    const here = layerOf(context.filename);
    if (!here) return {};

    /**
     * @param {import('estree').Node} node
     * @param {unknown} source
     * @param {boolean} typeOnly
     */
    const check = (node, source, typeOnly) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const there = layerOf(resolve(dirname(context.filename), source));
      if (!there) return;
      const data = { from: here.top, to: there.top, spec: source, order };
      if (there.index > here.index) {
        context.report({ node, messageId: 'upward', data });
      } else if (
        there.index < here.index &&
        here.layer.typesOnlyBelow &&
        !typeOnly &&
        !(here.layer.valuesFrom ?? []).includes(there.layer.name)
      ) {
        context.report({ node, messageId: 'typesOnly', data });
      }
    };
    return {
      ImportDeclaration(node) {
        // `import { type X }` still loads the module under verbatimModuleSyntax: only `import type` is type-only.
        check(node, node.source.value, /** @type {{ importKind?: string }} */ (node).importKind === 'type');
      },
      ExportNamedDeclaration(node) {
        if (node.source)
          check(node, node.source.value, /** @type {{ exportKind?: string }} */ (node).exportKind === 'type');
      },
      ExportAllDeclaration(node) {
        check(node, node.source.value, /** @type {{ exportKind?: string }} */ (node).exportKind === 'type');
      },
      ImportExpression(node) {
        if (node.source.type === 'Literal') check(node, node.source.value, false);
      },
    };
  },
};

export default { rules: { 'one-way': oneWay } };
