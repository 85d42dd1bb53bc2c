// Payees: add one (with the bank's check of the holder's name), rename, remove.

import { all, del, patch, post } from "../api.js";
import { h, replace, summary, when } from "../dom.js";
import { confirmAction, form, loading, notice, section, table } from "../ui.js";

const OUTCOMES = {
  match: "Match: the name is the account holder's.",
  close_match: "Close match",
  no_match: "No match: the name is not the account holder's.",
};

/** What the name check said about a payee, in words. */
export function nameCheckText(check) {
  if (!check) return "";
  if (check.result === "close_match")
    return `Close match: the account holder is ${check.matched_name}.`;
  return OUTCOMES[check.result] || check.result;
}

async function payees(body) {
  const host = h("div");
  const outcome = h("div", { "aria-live": "polite" });
  const adder = form({
    label: "Add a payee",
    title: "Add a payee",
    intro: "We check the name you give against the account holder's before you pay them.",
    submitLabel: "Check and add",
    fields: [
      {
        name: "account_number",
        label: "Account number",
        required: true,
        inputmode: "numeric",
        hint: "10 digits",
        autocomplete: "off",
      },
      {
        name: "name",
        label: "Account holder's name",
        required: true,
        hint: "As you believe it is written on their account",
      },
      { name: "nickname", label: "Nickname", hint: "Optional" },
      { name: "reference", label: "Reference", hint: "Optional, shown with your payments" },
      {
        name: "acknowledge_name_check",
        label: "The name does not match, and I still want to add this payee",
        type: "checkbox",
        hidden: true,
      },
    ],
    onSubmit: async (v) => {
      const payload = { account_number: v.account_number, name: v.name };
      if (v.nickname) payload.nickname = v.nickname;
      if (v.reference) payload.reference = v.reference;
      if (v.acknowledge_name_check) payload.acknowledge_name_check = true;
      replace(outcome);
      try {
        const payee = await post("/payees", payload);
        adder.reset();
        await show();
        replace(
          outcome,
          h(
            "div",
            { class: `notice name-check name-check-${payee.name_check.result}`, role: "status" },
            h(
              "p",
              {},
              h("strong", { text: `${payee.nickname || payee.name} added. ` }),
              `Name check: ${nameCheckText(payee.name_check)}`,
            ),
          ),
        );
      } catch (error) {
        if (error.code === "name_check_failed") adder.showField("acknowledge_name_check");
        throw error;
      }
    },
  });

  async function show() {
    await loading(host, async () => {
      const items = await all("/payees");
      return table({
        caption: "Your payees",
        empty: "No payees yet.",
        columns: [
          {
            label: "Name",
            value: (p) => [
              h("strong", { text: p.nickname || p.name }),
              p.nickname ? h("span", { class: "muted", text: ` ${p.name}` }) : null,
            ],
          },
          { label: "Account", value: (p) => p.account_number },
          {
            label: "Name check",
            value: (p) =>
              h("span", {
                class: `name-check-${p.name_check.result}`,
                text: nameCheckText(p.name_check),
              }),
          },
          { label: "Reference", value: (p) => p.reference || "" },
          { label: "Added", value: (p) => when(p.created_at) },
          {
            label: "Actions",
            value: (p) => [
              editButton(p),
              confirmAction(
                "Remove",
                `Remove ${p.nickname || p.name}?`,
                "Yes, remove",
                async () => {
                  await del(`/payees/${p.id}`);
                  await show();
                },
                { name: `Remove ${p.nickname || p.name}` },
              ),
            ],
          },
        ],
        items,
      });
    });
  }

  function editButton(payee) {
    const button = h("button", {
      type: "button",
      class: "secondary",
      text: "Edit",
      "aria-label": `Edit ${payee.nickname || payee.name}`,
    });
    button.addEventListener("click", () => {
      const editor = form({
        label: `Edit ${payee.nickname || payee.name}`,
        title: `Edit ${payee.nickname || payee.name}`,
        submitLabel: "Save",
        fields: [
          { name: "nickname", label: "Nickname", value: payee.nickname || "" },
          { name: "reference", label: "Reference", value: payee.reference || "" },
        ],
        onSubmit: async (v) => {
          const saved = await patch(`/payees/${payee.id}`, {
            nickname: v.nickname || null,
            reference: v.reference || null,
          });
          await show();
          replace(outcome, notice(`Saved ${saved.nickname || saved.name}.`));
        },
      });
      replace(
        edit,
        section("Edit a payee", editor.element, summary([["Account", payee.account_number]])),
      );
      editor.inputs.nickname.focus();
    });
    return button;
  }

  const edit = h("div");
  replace(body, outcome, host, edit, adder.element);
  await show();
}

export const routes = [
  { path: "/app/payees", title: "Payees", roles: ["customer"], render: payees },
];
