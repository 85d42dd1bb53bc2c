// What a payment form asks for where the money goes: one of the caller's payees,
// or an account number typed in. Shared by transfers and standing orders.

/** The form fields "To a payee" and "Or to account number" (hint: under the number). */
export function recipientFields(payees, { hint = null } = {}) {
  return [
    {
      name: "payee_id",
      label: "To a payee",
      type: "select",
      options: [
        ["", "Another account (type its number below)"],
        ...payees.map((p) => [p.id, `${p.nickname || p.name} · ${p.account_number}`]),
      ],
    },
    {
      name: "to_account_number",
      label: "Or to account number",
      inputmode: "numeric",
      ...(hint ? { hint } : {}),
      autocomplete: "off",
    },
  ];
}

/** Put the recipient chosen into a payload: the payee, else the number typed. */
export function addRecipient(payload, values) {
  if (values.payee_id) payload.payee_id = values.payee_id;
  else payload.to_account_number = values.to_account_number;
  return payload;
}
