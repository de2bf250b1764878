// Runs of one eval compared: pass rates per testing criterion and overall, and the items on which
// two runs disagree (passed in one, failed or errored in the other), matched by
// ``datasource_item_id`` across every page of both runs' output items.

const ITEMS_PAGE_SIZE = 100;

/** A rate: ``passed`` of ``graded`` (``rate`` is null while nothing is graded). */
function rateOf(passed, graded) {
  return { passed, graded, rate: graded ? passed / graded : null };
}

/** The run's pass rate per testing criterion, keyed by the criterion as the run names it. */
export function criterionRates(run) {
  const rates = new Map();
  for (const result of run.per_testing_criteria_results ?? []) {
    rates.set(result.testing_criteria, rateOf(result.passed, result.passed + result.failed));
  }
  return rates;
}

/** The run's overall pass rate: items that passed every criterion, of the items graded. */
export function overallRate(run) {
  const counts = run.result_counts ?? { passed: 0, total: 0 };
  return rateOf(counts.passed, counts.total);
}

/** The criteria of ``runs`` in the order they first appear (a run reports each it graded). */
export function criterionNames(runs) {
  const names = [];
  for (const run of runs) {
    for (const result of run.per_testing_criteria_results ?? []) {
      if (!names.includes(result.testing_criteria)) names.push(result.testing_criteria);
    }
  }
  return names;
}

/** Every output item of a run, oldest first, a page at a time; ``onPage(count)`` after each. */
export async function allOutputItems(api, evalId, runId, signal, onPage = () => {}) {
  const items = [];
  let after = null;
  for (;;) {
    const page = await api.get(
      `/evals/${evalId}/runs/${runId}/output_items`,
      { limit: ITEMS_PAGE_SIZE, order: "asc", after },
      signal,
    );
    items.push(...page.data);
    onPage(items.length);
    if (!page.has_more || page.data.length === 0) return items;
    after = page.data[page.data.length - 1].id;
  }
}

/** The items graded in both runs whose outcome differs, by item id; ``both`` counts the items
 * graded in both (an unfinished run has graded fewer). An errored item did not pass. */
export function disagreements(itemsA, itemsB) {
  const byIdB = new Map(itemsB.map((item) => [item.datasource_item_id, item]));
  const rows = [];
  let both = 0;
  for (const a of itemsA) {
    const b = byIdB.get(a.datasource_item_id);
    if (!b) continue;
    both += 1;
    if ((a.status === "pass") !== (b.status === "pass")) rows.push({ id: a.datasource_item_id, a, b });
  }
  rows.sort((x, y) => x.id - y.id);
  return { rows, both };
}

/** The text a model answered in an output item's sample. */
export function sampleText(item) {
  return (item.sample?.output ?? []).map((message) => message.content ?? "").join("\n");
}
