// Building the page: elements from plain values, text never parsed as HTML.
//
// Nothing here writes innerHTML or a style attribute: the page's policy
// refuses inline style, and text from the API (a payee's name, a description)
// must stay text.

let counter = 0;

/** A fresh id for pairing a label, a hint or an error with its input. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * Make an element: h("button", {type: "button", onclick: fn}, "Save").
 * Props: "class", "text", on<event> handlers, booleans (true sets, false
 * omits), anything else an attribute. Children: nodes, strings, arrays,
 * null/undefined/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

/** Append children (nested arrays, strings, nodes) to an element. */
export function append(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replace an element's content. */
export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

/** A definition list of [term, value] rows (a summary to confirm). */
export function summary(rows) {
  return h(
    "dl",
    { class: "summary" },
    rows
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([term, value]) => h("div", {}, h("dt", { text: term }), h("dd", {}, value))),
  );
}

/** An instant from the API ("2026-11-21T09:30:00.000Z") as "2026-11-21 09:30 UTC". */
export function instant(iso) {
  if (!iso) return "";
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** An instant for a table cell: a <time> that may break between the date and the time only. */
export function when(iso) {
  if (!iso) return "";
  const [day, clock] = [instant(iso).slice(0, 10), instant(iso).slice(11)];
  return h(
    "time",
    { class: "instant", datetime: iso },
    h("span", { text: day }),
    " ",
    h("span", { text: clock }),
  );
}

/** Words from a snake_case code: "transfer_out" -> "Transfer out". */
export function words(code) {
  if (!code) return "";
  const text = String(code).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A status as a badge (its words, a class per status for colour and shape). */
export function badge(status) {
  return h("span", { class: `badge badge-${status}`, text: words(status) });
}
