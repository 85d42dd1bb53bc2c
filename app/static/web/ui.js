// The pieces every screen is made of: labelled forms that show the API's
// refusals next to them, a confirmation step with an Idempotency-Key, tables,
// paged lists and buttons whose failures are shown, never swallowed.

import { ApiProblem } from "./api.js";
import { append, h, replace, summary, uid } from "./dom.js";
import { AMOUNT_PATTERN, typedAmount } from "./money.js";

/** A new Idempotency-Key (one per movement a person means to make). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Field errors of a problem document as {"a.b": ["message"]} (nested ones flattened). */
export function fieldErrors(errors, prefix = "") {
  const flat = {};
  for (const [name, value] of Object.entries(errors || {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (Array.isArray(value)) flat[path] = value.map(String);
    else if (value && typeof value === "object") Object.assign(flat, fieldErrors(value, path));
    else flat[path] = [String(value)];
  }
  return flat;
}

/** The words a refusal is shown with: the API's detail, plus figures it carries. */
export function describeProblem(error) {
  if (!(error instanceof ApiProblem)) {
    return {
      title: "Something went wrong on this page",
      detail: `${error && error.message ? error.message : error}. Nothing was sent again; reload the page to start afresh.`,
      reference: null,
    };
  }
  const problem = error.problem;
  let detail = problem.detail || problem.title;
  if (problem.code === "daily_limit_exceeded" && problem.remaining !== undefined) {
    detail += ` Daily limit ${problem.limit}, sent today ${problem.used}, left today ${problem.remaining}.`;
  }
  if (problem.code === "rate_limited" || problem.code === "too_many_attempts") {
    detail += " Wait a moment before trying again.";
  }
  return { title: problem.title, detail, reference: problem.request_id || null };
}

/** A box showing a refusal (title, detail, the request's reference). */
export function problemBox(error, extra = []) {
  const { title, detail, reference } = describeProblem(error);
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("p", {}, h("strong", { text: `${title}: ` }), detail),
    extra.length
      ? h(
          "ul",
          {},
          extra.map((line) => h("li", { text: line })),
        )
      : null,
    reference ? h("p", { class: "reference", text: `Reference ${reference}` }) : null,
  );
}

/** A success (or neutral) message, announced politely. */
export function notice(text, kind = "success") {
  return h("div", { class: `notice notice-${kind}`, role: "status" }, text);
}

function control(field, id, described) {
  const common = {
    id,
    name: field.name,
    required: field.required || false,
    "aria-required": field.required ? "true" : null,
    "aria-describedby": described,
    autocomplete: field.autocomplete || null,
  };
  if (field.type === "select") {
    const select = h("select", common);
    for (const [value, label] of field.options || []) {
      select.append(h("option", { value, text: label }));
    }
    if (field.value !== undefined) select.value = field.value;
    return select;
  }
  if (field.type === "textarea") {
    return h("textarea", {
      ...common,
      rows: 3,
      maxlength: field.maxlength || null,
      text: field.value || "",
    });
  }
  if (field.type === "checkbox") {
    return h("input", { ...common, type: "checkbox", checked: field.value === true });
  }
  const types = { amount: "text", integer: "text", search: "search" };
  const input = h("input", {
    ...common,
    type: types[field.type] || field.type || "text",
    inputmode: field.type === "amount" ? "decimal" : field.type === "integer" ? "numeric" : null,
    maxlength: field.maxlength || null,
    placeholder: field.placeholder || null,
    spellcheck: field.type === "amount" || field.type === "password" ? "false" : null,
  });
  if (field.value !== undefined && field.value !== null) input.value = field.value;
  return input;
}

/**
 * A form of labelled fields. ``onSubmit(values, form)`` may throw: an
 * ApiProblem's detail and field errors are shown next to the form and the
 * fields they name. Returns {element, values(), showProblem(), clear(), reset()}.
 */
export function form(spec) {
  const problemArea = h("div", { class: "form-problem", "aria-live": "assertive" });
  const inputs = {};
  const errorSlots = {};
  const rowsByName = {};
  const rows = spec.fields.map((field) => {
    const id = uid(`f-${field.name.replaceAll(".", "-")}`);
    const hintId = field.hint ? `${id}-hint` : null;
    const errorId = `${id}-error`;
    const described = [hintId, errorId].filter(Boolean).join(" ");
    const input = control(field, id, described);
    inputs[field.name] = input;
    errorSlots[field.name] = h("p", { class: "field-error", id: errorId });
    const label = h(
      "label",
      { for: id },
      field.label,
      field.required ? h("span", { class: "required", text: " (required)" }) : null,
    );
    const hint = field.hint ? h("p", { class: "hint", id: hintId, text: field.hint }) : null;
    const klass = field.type === "checkbox" ? "field field-check" : "field";
    rowsByName[field.name] =
      field.type === "checkbox"
        ? h(
            "div",
            { class: klass, hidden: field.hidden || false },
            input,
            label,
            hint,
            errorSlots[field.name],
          )
        : h(
            "div",
            { class: klass, hidden: field.hidden || false },
            label,
            hint,
            input,
            errorSlots[field.name],
          );
    return rowsByName[field.name];
  });
  const submit = h("button", {
    type: "submit",
    class: "primary",
    text: spec.submitLabel || "Save",
  });
  const buttons = h("div", { class: "buttons" }, submit, spec.extraButtons || null);
  const element = h(
    "form",
    { class: `form ${spec.class || ""}`, novalidate: true, "aria-label": spec.label || null },
    spec.title ? h("h2", { text: spec.title }) : null,
    spec.intro ? h("p", { class: "intro", text: spec.intro }) : null,
    rows,
    problemArea,
    buttons,
  );

  const api = {
    element,
    inputs,
    values() {
      const values = {};
      for (const field of spec.fields) {
        const input = inputs[field.name];
        if (field.type === "checkbox") values[field.name] = input.checked;
        else if (field.type === "amount") values[field.name] = typedAmount(input.value);
        else values[field.name] = input.value.trim();
      }
      return values;
    },
    clear() {
      replace(problemArea);
      for (const field of spec.fields) {
        replace(errorSlots[field.name]);
        inputs[field.name].removeAttribute("aria-invalid");
      }
    },
    fieldError(name, messages) {
      const input = inputs[name];
      if (!input) return false;
      replace(errorSlots[name], messages.join(" "));
      input.setAttribute("aria-invalid", "true");
      return true;
    },
    showProblem(error) {
      api.clear();
      const unplaced = [];
      const errors = error instanceof ApiProblem ? fieldErrors(error.problem.errors) : {};
      for (const [name, messages] of Object.entries(errors)) {
        const target = spec.errorFields?.[name] || name;
        if (!api.fieldError(target, messages)) unplaced.push(`${name}: ${messages.join(" ")}`);
      }
      replace(problemArea, problemBox(error, unplaced));
      const first = spec.fields.find((field) => errors[field.name]);
      (first ? inputs[first.name] : problemArea.firstChild)?.focus?.();
    },
    reset() {
      element.reset();
      api.clear();
      for (const field of spec.fields) rowsByName[field.name].hidden = field.hidden || false;
    },
    showField(name) {
      rowsByName[name].hidden = false;
    },
    setBusy(busy) {
      submit.disabled = busy;
      element.setAttribute("aria-busy", busy ? "true" : "false");
    },
    check() {
      // Convenience checks only; the server decides and its refusal is shown.
      api.clear();
      const values = api.values();
      let ok = true;
      for (const field of spec.fields) {
        const value = values[field.name];
        if (field.required && (value === "" || value === false) && field.type !== "checkbox") {
          api.fieldError(field.name, [`Enter ${field.label.toLowerCase()}.`]);
          ok = false;
        } else if (field.type === "amount" && value !== "" && !AMOUNT_PATTERN.test(value)) {
          api.fieldError(field.name, ["Enter an amount like 125.50 (at most two decimals)."]);
          ok = false;
        }
      }
      if (!ok) {
        replace(
          problemArea,
          h("p", { class: "problem", role: "alert", text: "Check the fields marked above." }),
        );
        element.querySelector("[aria-invalid='true']")?.focus();
      }
      return ok;
    },
  };

  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled || !api.check()) return;
    api.setBusy(true);
    try {
      await spec.onSubmit(api.values(), api);
    } catch (error) {
      api.showProblem(error);
    } finally {
      api.setBusy(false);
    }
  });
  return api;
}

/**
 * A form whose submission is a money movement: review, then confirm.
 *
 * The Idempotency-Key is made when the person first reviews these values and
 * kept while they stay the same: a double click, a retry after no answer, or
 * "Change" then the same values again all send the same key, so the money
 * moves once. A settled refusal (a 4xx) or a success ends the key; changed
 * values get a new one.
 */
export function moneyForm(spec) {
  const host = h("div", { class: "money-form" });
  let key = null;
  let keyedFor = null;
  let values = null;

  const theForm = form({
    ...spec,
    submitLabel: spec.reviewLabel || "Review",
    onSubmit: async (typed) => {
      values = typed;
      const fingerprint = JSON.stringify(typed);
      if (fingerprint !== keyedFor) {
        key = newKey();
        keyedFor = fingerprint;
      }
      showConfirm(await spec.review(typed));
    },
  });

  function showConfirm(rows, error = null) {
    const heading = h("h2", { tabindex: "-1", text: spec.confirmTitle || "Check and confirm" });
    const problemArea = h("div", { class: "form-problem", "aria-live": "assertive" });
    const confirm = h("button", {
      type: "button",
      class: "primary confirm",
      text: spec.confirmLabel || "Confirm",
    });
    const change = h("button", { type: "button", class: "secondary", text: "Change" });
    const panel = h(
      "section",
      { class: "confirm-step", "aria-label": "Confirm" },
      heading,
      summary(rows),
      h("div", { class: "buttons" }, confirm, change),
      // After the buttons: what appears here never moves them under the pointer.
      problemArea,
    );
    if (error) replace(problemArea, problemBox(error));
    change.addEventListener("click", () => {
      replace(host, theForm.element);
      theForm.element.querySelector("input, select, textarea")?.focus();
    });
    confirm.addEventListener("click", async () => {
      if (confirm.disabled) return;
      confirm.disabled = true;
      change.disabled = true;
      panel.setAttribute("aria-busy", "true");
      replace(problemArea, h("p", { class: "working", text: "Sending…" }));
      try {
        const result = await spec.submit(values, key);
        key = null;
        keyedFor = null;
        showDone(result);
      } catch (failure) {
        if (!(failure instanceof ApiProblem) || !failure.retryable) {
          // Settled: the same key would only replay this refusal.
          key = null;
          keyedFor = null;
        }
        showConfirm(rows, failure);
        host.querySelector(".problem")?.focus?.();
      }
    });
    replace(host, panel);
    heading.focus();
  }

  function showDone(result) {
    const again = h("button", {
      type: "button",
      class: "secondary",
      text: spec.againLabel || "Make another",
    });
    const heading = h("h2", { tabindex: "-1", text: spec.doneTitle || "Done" });
    again.addEventListener("click", () => {
      theForm.reset();
      replace(host, theForm.element);
      theForm.element.querySelector("input, select, textarea")?.focus();
    });
    replace(
      host,
      h(
        "section",
        { class: "done-step" },
        heading,
        spec.done(result, values),
        h("div", { class: "buttons" }, again),
      ),
    );
    heading.focus();
    spec.after?.(result);
  }

  replace(host, theForm.element);
  return { element: host, form: theForm };
}

/** A table in a scrollable, focusable region (narrow screens scroll it sideways). */
export function table({ caption, columns, items, empty = "Nothing to show." }) {
  if (!items.length) return h("p", { class: "empty", text: empty });
  const body = h("tbody");
  appendRows(body, columns, items);
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabindex: "0" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden", text: caption }),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((c) => h("th", { scope: "col", class: c.class || null, text: c.label })),
        ),
      ),
      body,
    ),
  );
}

function appendRows(body, columns, items) {
  for (const item of items) {
    body.append(
      h(
        "tr",
        {},
        columns.map((c) =>
          h("td", { class: c.class || null, "data-label": c.label }, c.value(item)),
        ),
      ),
    );
  }
}

/**
 * A list read page by page: ``load(cursor)`` answers {items, next_cursor};
 * "Show more" appends the next page. Returns {element, reload()}.
 */
export function pagedTable({ caption, columns, load, empty }) {
  const element = h("div", { class: "paged" });
  let body = null;
  let cursor = null;

  async function more(first) {
    const button = element.querySelector(".more");
    if (button) button.disabled = true;
    element.setAttribute("aria-busy", "true");
    try {
      const page = await load(first ? null : cursor);
      cursor = page.next_cursor;
      if (first) {
        const shown = table({ caption, columns, items: page.items, empty });
        body = shown.querySelector("tbody");
        replace(element, shown);
      } else {
        appendRows(body, columns, page.items);
      }
      element.querySelector(".more-row")?.remove();
      if (cursor) {
        const next = h("button", { type: "button", class: "secondary more", text: "Show more" });
        next.addEventListener("click", () => more(false));
        element.append(h("div", { class: "more-row" }, next));
      } else if (body) {
        element.append(h("p", { class: "more-row end", text: "End of the list." }));
      }
    } catch (error) {
      element.querySelector(".more-row")?.remove();
      element.append(h("div", { class: "more-row" }, problemBox(error)));
      if (button) button.disabled = false;
    } finally {
      element.removeAttribute("aria-busy");
    }
  }

  return {
    element,
    reload: () => {
      replace(element, h("p", { class: "loading", text: "Loading…" }));
      return more(true);
    },
  };
}

/**
 * A button that runs an API call; its refusal is shown right after it.
 * ``run`` answers what to show on success (text), or nothing.
 */
export function actionButton(label, run, { kind = "secondary", name = null } = {}) {
  const status = h("span", { class: "action-status", "aria-live": "polite" });
  const button = h("button", { type: "button", class: kind, text: label, "aria-label": name });
  button.addEventListener("click", async () => {
    if (button.disabled) return;
    button.disabled = true;
    replace(status);
    try {
      const text = await run();
      if (text) replace(status, h("span", { class: "ok", text }));
    } catch (error) {
      replace(status, problemBox(error));
    } finally {
      if (button.isConnected) button.disabled = false;
    }
  });
  return h("span", { class: "action" }, button, status);
}

/**
 * A button that asks first: a click shows ``question`` with a "yes" and a
 * "no" button; "yes" runs ``run`` (its refusal is shown there).
 */
export function confirmAction(
  label,
  question,
  yesLabel,
  run,
  { name = null, kind = "secondary" } = {},
) {
  const host = h("span", { class: "action" });
  const start = h("button", { type: "button", class: kind, text: label, "aria-label": name });
  const reset = () => {
    replace(host, start);
    start.focus();
  };
  start.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger", text: yesLabel });
    const no = h("button", { type: "button", class: "secondary", text: "No, keep it" });
    const status = h("span", { class: "action-status", "aria-live": "polite" });
    no.addEventListener("click", reset);
    yes.addEventListener("click", async () => {
      if (yes.disabled) return;
      yes.disabled = true;
      no.disabled = true;
      replace(status);
      try {
        const text = await run();
        if (text && host.isConnected)
          replace(host, h("span", { class: "ok", role: "status", text }));
      } catch (error) {
        replace(status, problemBox(error));
        no.disabled = false;
        yes.disabled = false;
      }
    });
    replace(
      host,
      h(
        "span",
        { class: "ask", role: "group", "aria-label": label },
        h("span", { class: "question", text: question }),
        yes,
        no,
        status,
      ),
    );
    yes.focus();
  });
  host.append(start);
  return host;
}

/** A screen's content while it loads, then its content or the refusal that stopped it. */
export async function loading(container, build) {
  replace(container, h("p", { class: "loading", text: "Loading…" }));
  container.setAttribute("aria-busy", "true");
  try {
    const content = await build();
    replace(container, content);
  } catch (error) {
    replace(container, problemBox(error));
  } finally {
    container.removeAttribute("aria-busy");
  }
}

/** A section with a heading. */
export function section(title, ...children) {
  const id = uid("s");
  return h(
    "section",
    { class: "card", "aria-labelledby": id },
    h("h2", { id, text: title }),
    children,
  );
}

export { append, h, replace };
