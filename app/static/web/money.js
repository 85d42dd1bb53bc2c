// Money in the browser: text in, text out, never a binary float.
//
// The API sends amounts as strings with two decimals ("1250.00") and takes
// them as strings; the browser only reformats them for reading (thousands
// separators, the currency) by string manipulation. No amount is ever turned
// into a JavaScript number here, so 0.10 + 0.20 is whatever the server says
// (0.30), not 0.30000000000000004.

/** What an amount typed by a person may look like (the server decides). */
export const AMOUNT_PATTERN = /^[0-9]{1,9}(\.[0-9]{1,2})?$/;

const WIRE = /^(-?)([0-9]+)\.([0-9]{2})$/;

/** Group a string of digits in threes: "1234567" -> "1,234,567". */
export function groupDigits(digits) {
  const groups = [];
  let rest = digits;
  while (rest.length > 3) {
    groups.unshift(rest.slice(-3));
    rest = rest.slice(0, -3);
  }
  groups.unshift(rest);
  return groups.join(",");
}

/** An amount from the API for reading: ("-1234.50", "USD") -> "-1,234.50 USD". */
export function money(amount, currency) {
  if (amount === null || amount === undefined) return "";
  const text = String(amount);
  const parts = WIRE.exec(text);
  const shown = parts ? `${parts[1]}${groupDigits(parts[2])}.${parts[3]}` : text;
  return currency ? `${shown} ${currency}` : shown;
}

/** Tidy what a person typed before sending it: spaces and thousands commas out. */
export function typedAmount(text) {
  return String(text || "")
    .trim()
    .replaceAll(",", "")
    .replaceAll(" ", "");
}

/** A whole number typed in a form, as a JSON integer when it is one (not money). */
export function wholeNumber(text) {
  const typed = String(text || "").trim();
  // Sent as typed when it is not a plain whole number: the server refuses it
  // and its problem document says why, next to the field.
  return /^[0-9]{1,6}$/.test(typed) ? parseInt(typed, 10) : typed;
}
