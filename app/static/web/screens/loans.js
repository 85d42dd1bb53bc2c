// Loans: the products, applying, a loan's schedule, repaying, withdrawing.

import { all, get, post } from "../api.js";
import { badge, h, instant, replace, summary, words } from "../dom.js";
import { money, wholeNumber } from "../money.js";
import { confirmAction, form, loading, moneyForm, notice, section, table } from "../ui.js";
import { accountOptions, ownAccounts } from "./customer.js";

export function scheduleTable(rows, currency, caption = "Repayment schedule") {
  return table({
    caption,
    columns: [
      { label: "No.", class: "num", value: (r) => String(r.number) },
      { label: "Due", value: (r) => r.due_date || "after disbursement" },
      { label: "Principal", class: "num", value: (r) => money(r.principal, currency) },
      { label: "Interest", class: "num", value: (r) => money(r.interest, currency) },
      { label: "Instalment", class: "num", value: (r) => money(r.instalment, currency) },
      { label: "Paid", class: "num", value: (r) => money(r.paid, currency) },
      { label: "Status", value: (r) => badge(r.status) },
    ],
    items: rows,
  });
}

function loanRows(loan, product) {
  return [
    ["Status", badge(loan.status)],
    ["Product", product ? product.name : loan.product_id],
    ["Amount", money(loan.principal, loan.currency)],
    ["Rate", `${loan.annual_rate} % a year`],
    ["Term", `${loan.term_months} months`],
    ["Instalment", money(loan.instalment, loan.currency)],
    [
      "Outstanding",
      loan.outstanding
        ? h("strong", { class: "outstanding", text: money(loan.outstanding, loan.currency) })
        : null,
    ],
    [
      "Next due",
      loan.next_due
        ? `${money(loan.next_due.amount, loan.currency)} on ${loan.next_due.date}`
        : null,
    ],
    ["Days past due", loan.days_past_due ? String(loan.days_past_due) : null],
    ["Loan account", loan.account_number],
    ["Paid into", loan.disbursement_account_number],
    ["Purpose", loan.purpose],
    ["Decision", loan.reason],
    ["Applied", instant(loan.created_at)],
  ];
}

async function loans(body) {
  const [products, accounts] = await Promise.all([
    all("/loan-products", { active: "true" }),
    ownAccounts(),
  ]);
  const currency = accounts[0]?.currency || "";
  const mine = h("div");
  const preview = h("div", { "aria-live": "polite" });
  const apply = form({
    label: "Apply for a loan",
    title: "Apply for a loan",
    submitLabel: "Apply",
    fields: [
      {
        name: "product_id",
        label: "Product",
        type: "select",
        required: true,
        options: products.map((p) => [
          p.id,
          `${p.name} · ${p.annual_rate} % · ${money(p.min_amount, currency)} to ${money(p.max_amount, currency)} · ${p.min_term_months} to ${p.max_term_months} months`,
        ]),
      },
      { name: "amount", label: "Amount", type: "amount", required: true },
      { name: "term_months", label: "Term in months", type: "integer", required: true },
      { name: "purpose", label: "Purpose", maxlength: 140 },
      {
        name: "disbursement_account_number",
        label: "Pay it into",
        type: "select",
        options: accountOptions(accounts),
      },
    ],
    onSubmit: async (v) => {
      const payload = {
        product_id: v.product_id,
        amount: v.amount,
        term_months: wholeNumber(v.term_months),
        disbursement_account_number: v.disbursement_account_number,
      };
      if (v.purpose) payload.purpose = v.purpose;
      const loan = await post("/loans", payload);
      apply.reset();
      await show();
      replace(
        preview,
        section(
          "Application sent",
          notice(
            `Your application for ${money(loan.principal, loan.currency || currency)} is ${words(loan.status).toLowerCase()}; a banker will decide.`,
          ),
          summary(
            loanRows(
              { ...loan, currency },
              products.find((p) => p.id === loan.product_id),
            ),
          ),
          scheduleTable(loan.schedule, currency, "Schedule if approved"),
        ),
      );
      preview.querySelector("h2")?.setAttribute("tabindex", "-1");
      preview.querySelector("h2")?.focus();
    },
  });

  async function show() {
    await loading(mine, async () => {
      const items = await all("/loans");
      return table({
        caption: "Loans you hold or asked for",
        empty: "No loans yet.",
        columns: [
          {
            label: "Loan",
            value: (l) =>
              h("a", {
                href: `/app/loans/${l.id}`,
                text: `${money(l.principal, currency)} over ${l.term_months} months`,
              }),
          },
          { label: "Status", value: (l) => badge(l.status) },
          {
            label: "Outstanding",
            class: "num",
            value: (l) => (l.outstanding ? money(l.outstanding, currency) : ""),
          },
          {
            label: "Next due",
            value: (l) =>
              l.next_due ? `${money(l.next_due.amount, currency)} on ${l.next_due.date}` : "",
          },
        ],
        items,
      });
    });
  }

  replace(
    body,
    section("Your loans", mine),
    preview,
    products.length
      ? apply.element
      : h("p", { class: "empty", text: "The bank offers no loans at the moment." }),
    section(
      "What we lend",
      table({
        caption: "Loan products",
        columns: [
          { label: "Product", value: (p) => p.name },
          { label: "Rate a year", class: "num", value: (p) => `${p.annual_rate} %` },
          {
            label: "Amounts",
            value: (p) => `${money(p.min_amount, currency)} to ${money(p.max_amount, currency)}`,
          },
          { label: "Terms", value: (p) => `${p.min_term_months} to ${p.max_term_months} months` },
        ],
        items: products,
        empty: "No products.",
      }),
    ),
  );
  await show();
}

async function loan(body, { params }) {
  const [accounts, products] = await Promise.all([ownAccounts(), all("/loan-products")]);
  const currency = accounts[0]?.currency || "";
  async function show(message) {
    await loading(body, async () => {
      const [item, schedule] = await Promise.all([
        get(`/loans/${params.id}`),
        get(`/loans/${params.id}/schedule`),
      ]);
      const product = products.find((p) => p.id === item.product_id);
      const parts = [
        message ? notice(message) : null,
        section("The loan", summary(loanRows({ ...item, currency }, product))),
      ];
      if (item.status === "active") {
        const repay = moneyForm({
          label: "Repay",
          fields: [
            {
              name: "from_account_number",
              label: "From account",
              type: "select",
              options: accountOptions(accounts),
            },
            {
              name: "amount",
              label: "Amount",
              type: "amount",
              required: true,
              value: item.next_due ? item.next_due.amount : "",
              hint: `Outstanding ${money(item.outstanding, currency)}`,
            },
          ],
          confirmLabel: "Confirm the repayment",
          doneTitle: "Repayment made",
          review: (v) => [
            ["From", v.from_account_number],
            ["Amount", h("strong", { text: money(v.amount, currency) })],
          ],
          submit: (v, key) =>
            post(
              `/loans/${item.id}/repayments`,
              { amount: v.amount, from_account_number: v.from_account_number },
              key,
            ),
          done: (result) =>
            notice(
              `Repaid ${money(result.transfer.amount, currency)}. Outstanding now ${money(result.loan.outstanding, currency)}.`,
            ),
          after: (result) =>
            show(
              `Repaid ${money(result.transfer.amount, currency)}; the loan is ${words(result.loan.status).toLowerCase()}, outstanding ${money(result.loan.outstanding, currency)}.`,
            ),
        });
        parts.push(section("Repay", repay.element));
      }
      if (item.status === "submitted" || item.status === "approved") {
        parts.push(
          h(
            "p",
            {},
            confirmAction(
              "Withdraw the application",
              "Withdraw this application?",
              "Yes, withdraw it",
              async () => {
                const withdrawn = await post(`/loans/${item.id}/withdraw`);
                await show(`The application is ${words(withdrawn.status).toLowerCase()}.`);
              },
            ),
          ),
        );
      }
      parts.push(section("Schedule", scheduleTable(schedule.items, currency)));
      parts.push(h("p", {}, h("a", { href: "/app/loans", text: "All your loans" })));
      return h("div", {}, parts);
    });
  }
  await show();
}

export const routes = [
  { path: "/app/loans", title: "Loans", roles: ["customer"], render: loans },
  { path: "/app/loans/:id", title: "Loan", roles: ["customer"], render: loan },
];
