// A customer's money: the overview, history, deposit, withdraw, transfer,
// approvals and statements.

import { all, download, get, imageUrl, post } from "../api.js";
import { badge, h, instant, replace, summary, words, when } from "../dom.js";
import { money } from "../money.js";
import { addRecipient, recipientFields } from "../payment.js";
import {
  actionButton,
  form,
  loading,
  moneyForm,
  notice,
  pagedTable,
  problemBox,
  section,
  table,
} from "../ui.js";

const CUSTOMER = ["customer"];
export const TYPES = ["deposit", "withdrawal", "transfer_in", "transfer_out", "interest"];

/** The caller's accounts that money can be paid from or into (checking, savings). */
export async function ownAccounts() {
  const accounts = await all("/accounts");
  const usable = accounts.filter((a) => a.kind === "checking" || a.kind === "savings");
  // The primary account first: it is what the API uses when none is named.
  return usable.filter((a) => a.primary).concat(usable.filter((a) => !a.primary));
}

/** Select options for accounts: [[number, "Checking 1234567890 · 12.00 USD"]]. */
export function accountOptions(accounts, { any = null } = {}) {
  const options = accounts.map((a) => [
    a.account_number,
    `${words(a.kind)} ${a.account_number}${a.primary ? " (primary)" : ""} · ${money(a.available_balance ?? a.balance, a.currency)}`,
  ]);
  return any ? [["", any], ...options] : options;
}

/** The columns of a transaction table. */
export function movementColumns({ account = true, owner = false } = {}) {
  return [
    { label: "When", value: (t) => when(t.created_at) },
    owner ? { label: "Customer", value: (t) => t.owner?.username || "" } : null,
    account ? { label: "Account", value: (t) => t.account_number } : null,
    { label: "Type", value: (t) => words(t.type) },
    {
      label: "Description",
      value: (t) => [
        t.description || "",
        t.counterparty_account_number
          ? h("span", {
              class: "muted",
              text: ` ${t.type === "transfer_in" ? "from" : "to"} ${t.counterparty_account_number}`,
            })
          : null,
      ],
    },
    {
      label: "Amount",
      class: "num",
      value: (t) =>
        h("span", {
          class: `amount ${isCredit(t.type) ? "credit" : "debit"}`,
          text: `${isCredit(t.type) ? "+" : "−"}${money(t.amount, t.currency)}`,
        }),
    },
    { label: "Balance after", class: "num", value: (t) => money(t.balance_after, t.currency) },
  ].filter(Boolean);
}

function isCredit(type) {
  return type === "deposit" || type === "transfer_in";
}

function accountColumns() {
  return [
    {
      label: "Account",
      value: (a) => [
        a.account_number,
        a.primary ? h("span", { class: "muted", text: " primary" }) : null,
      ],
    },
    { label: "Kind", value: (a) => words(a.kind) },
    { label: "Status", value: (a) => badge(a.status) },
    {
      label: "Balance",
      class: "num",
      value: (a) => h("strong", { text: money(a.balance, a.currency) }),
    },
    { label: "Available", class: "num", value: (a) => money(a.available_balance, a.currency) },
  ];
}

async function dashboard(body) {
  await loading(body, async () => {
    const board = await get("/dashboard");
    const figures = h(
      "div",
      { class: "figures" },
      h(
        "div",
        { class: "figure" },
        h("p", { class: "figure-label", text: "Total balance" }),
        h("p", {
          class: "figure-value total-balance",
          text: money(board.total_balance, board.currency),
        }),
      ),
      h(
        "div",
        { class: "figure" },
        h("p", { class: "figure-label", text: "Income this month" }),
        h("p", {
          class: "figure-value income",
          text: money(board.this_month.income, board.currency),
        }),
      ),
      h(
        "div",
        { class: "figure" },
        h("p", { class: "figure-label", text: "Expenses this month" }),
        h("p", {
          class: "figure-value expenses",
          text: money(board.this_month.expenses, board.currency),
        }),
      ),
    );
    const open = actionButton("Open a savings account", async () => {
      const account = await post("/accounts", { kind: "savings" });
      replace(
        accountsHost,
        table({
          caption: "Your accounts",
          columns: accountColumns(),
          items: board.accounts.concat([account]),
        }),
      );
      board.accounts.push(account);
      return `Savings account ${account.account_number} opened.`;
    });
    const accountsHost = h(
      "div",
      {},
      table({ caption: "Your accounts", columns: accountColumns(), items: board.accounts }),
    );
    const chart = h(
      "div",
      { class: "chart" },
      h("p", { class: "loading", text: "Loading the chart…" }),
    );
    const content = h(
      "div",
      { class: "dashboard" },
      figures,
      section("Accounts", accountsHost, open),
      section("Income and expenses", chart),
      section(
        "Recent movements",
        table({
          caption: "Your last five movements",
          columns: movementColumns(),
          items: board.recent,
          empty: "No movements yet. Make a deposit to start.",
        }),
        h("p", {}, h("a", { href: "/app/history", text: "All of your history" })),
      ),
      board.goals.length
        ? section(
            "Savings goals",
            h(
              "ul",
              { class: "goal-list" },
              board.goals.map((g) =>
                h(
                  "li",
                  {},
                  `${g.name}: ${money(g.balance, g.currency)}`,
                  g.target_amount ? ` of ${money(g.target_amount, g.currency)}` : "",
                ),
              ),
            ),
            h("p", {}, h("a", { href: "/app/goals", text: "Manage your goals" })),
          )
        : null,
    );
    drawChart(chart);
    return content;
  });
}

async function drawChart(host) {
  try {
    const [months, src] = await Promise.all([
      get("/analytics/monthly", { months: 6 }),
      imageUrl("/analytics/monthly.png", { months: 6 }),
    ]);
    const currency = months.currency || "";
    replace(
      host,
      h("img", {
        class: "chart-image",
        src,
        // The picture is in memory once shown; its object URL is let go.
        onload: () => URL.revokeObjectURL(src),
        alt: "Bar chart of income and expenses for each of the last six months; the same figures are in the table that follows.",
      }),
      h(
        "details",
        { class: "figures-table" },
        h("summary", { text: "The same figures as a table" }),
        table({
          caption: "Income and expenses per month",
          columns: [
            { label: "Month", value: (m) => m.month },
            { label: "Income", class: "num", value: (m) => money(m.income, currency) },
            { label: "Expenses", class: "num", value: (m) => money(m.expenses, currency) },
            { label: "Net", class: "num", value: (m) => money(m.net, currency) },
            { label: "Movements", class: "num", value: (m) => String(m.count) },
          ],
          items: months.items,
        }),
      ),
    );
  } catch (error) {
    replace(host, problemBox(error));
  }
}

async function history(body) {
  const accounts = await all("/accounts");
  const list = pagedTable({
    caption: "Movements",
    columns: movementColumns(),
    empty: "No movements match.",
    load: (cursor) => get("/transactions", { ...filters.values(), limit: 20, cursor }),
  });
  const filters = form({
    label: "Filter the history",
    class: "filters",
    submitLabel: "Show",
    fields: [
      {
        name: "account_number",
        label: "Account",
        type: "select",
        options: accountOptions(accounts, { any: "All accounts" }),
      },
      {
        name: "type",
        label: "Type",
        type: "select",
        options: [["", "Any type"], ...TYPES.map((t) => [t, words(t)])],
      },
      { name: "from", label: "From", type: "date" },
      { name: "to", label: "To", type: "date" },
    ],
    onSubmit: async () => {
      await list.reload();
    },
  });
  replace(body, filters.element, list.element);
  await list.reload();
}

function resultOf(result) {
  if (result.accepted) {
    const a = result.approval;
    return h(
      "div",
      {},
      notice(
        `${money(a.amount, a.currency)} is waiting for a banker's approval; nothing has moved yet and the amount is set aside.`,
        "info",
      ),
      h("p", {}, h("a", { href: "/app/approvals", text: "Follow it on the approvals page" })),
    );
  }
  const moved = result.transaction || result.transfer;
  return h(
    "div",
    {},
    notice(
      `Done: ${money(moved.amount, moved.currency || result.currency)}. New balance ${money(result.balance, result.currency)}.`,
    ),
    summary([
      ["Reference", moved.id],
      ["When", instant(moved.created_at)],
    ]),
  );
}

async function movement(body, kind) {
  const accounts = await ownAccounts();
  const payees = kind === "transfer" ? await all("/payees") : [];
  const account = {
    name: "account_number",
    label: kind === "deposit" ? "Into account" : "From account",
    type: "select",
    options: accountOptions(accounts),
  };
  const fields = [
    ...(kind === "transfer"
      ? [
          { ...account, name: "from_account_number" },
          ...recipientFields(payees, { hint: "10 digits; leave empty when you chose a payee" }),
        ]
      : [account]),
    { name: "amount", label: "Amount", type: "amount", required: true, hint: "For example 125.50" },
    { name: "description", label: "Description", maxlength: 140 },
  ];
  const find = (number) => accounts.find((a) => a.account_number === number);
  const currency = accounts[0]?.currency || "";
  const flow = moneyForm({
    label: words(kind),
    fields,
    reviewLabel: "Review",
    confirmLabel: `Confirm the ${kind}`,
    doneTitle:
      kind === "transfer"
        ? "Transfer sent"
        : kind === "deposit"
          ? "Deposit made"
          : "Withdrawal made",
    review: (v) => {
      const from = kind === "transfer" ? v.from_account_number : v.account_number;
      const payee = payees.find((p) => p.id === v.payee_id);
      return [
        [
          kind === "deposit" ? "Into" : "From",
          from ? `${words(find(from)?.kind)} ${from}` : "Primary account",
        ],
        kind === "transfer"
          ? [
              "To",
              payee
                ? `${payee.nickname || payee.name} (${payee.account_number})`
                : v.to_account_number,
            ]
          : null,
        ["Amount", h("strong", { class: "confirm-amount", text: money(v.amount, currency) })],
        ["Description", v.description],
      ].filter(Boolean);
    },
    submit: (v, key) => {
      const payload = { amount: v.amount };
      if (v.description) payload.description = v.description;
      if (kind === "transfer") {
        if (v.from_account_number) payload.from_account_number = v.from_account_number;
        return post("/transfers", addRecipient(payload, v), key);
      }
      if (v.account_number) payload.account_number = v.account_number;
      return post(kind === "deposit" ? "/deposit" : "/withdraw", payload, key);
    },
    done: resultOf,
  });
  replace(body, h("div", { class: "narrow" }, flow.element));
}

async function approvals(body) {
  const list = pagedTable({
    caption: "Your large movements",
    empty:
      "No large movements. Withdrawals and transfers to others of the approval threshold or more wait here for a banker.",
    columns: [
      { label: "Asked", value: (a) => when(a.created_at) },
      { label: "Kind", value: (a) => words(a.kind) },
      { label: "From", value: (a) => a.from_account_number },
      { label: "To", value: (a) => a.to_account_number || "" },
      { label: "Amount", class: "num", value: (a) => money(a.amount, a.currency) },
      {
        label: "Status",
        value: (a) => [
          badge(a.status),
          a.reason ? h("span", { class: "muted", text: ` ${a.reason}` }) : null,
        ],
      },
      {
        label: "Action",
        value: (a) =>
          a.status === "pending_approval"
            ? actionButton(
                "Cancel",
                async () => {
                  const cancelled = await post(`/approvals/${a.id}/cancel`);
                  await list.reload();
                  replace(
                    said,
                    notice(
                      `The ${words(cancelled.kind).toLowerCase()} of ${money(cancelled.amount, cancelled.currency)} is ${words(cancelled.status).toLowerCase()}; the amount is free again.`,
                    ),
                  );
                },
                {
                  name: `Cancel the ${words(a.kind).toLowerCase()} of ${money(a.amount, a.currency)}`,
                },
              )
            : "",
      },
    ],
    load: (cursor) => get("/approvals", { cursor }),
  });
  const said = h("div", { "aria-live": "polite" });
  replace(
    body,
    h("p", {
      class: "intro",
      text: "A withdrawal or a transfer to someone else of the approval threshold or more waits for a banker; until then the amount is set aside.",
    }),
    said,
    list.element,
  );
  await list.reload();
}

async function statements(body) {
  const accounts = await all("/accounts");
  const chooser = form({
    label: "Choose an account",
    class: "filters",
    submitLabel: "Show its statements",
    fields: [
      {
        name: "account_number",
        label: "Account",
        type: "select",
        options: accountOptions(accounts),
      },
    ],
    onSubmit: async (v) => {
      await loading(months, () => monthsOf(v.account_number));
    },
  });
  const months = h("div");
  replace(body, chooser.element, months);
  if (accounts.length) await loading(months, () => monthsOf(accounts[0].account_number));
}

async function monthsOf(number) {
  const listed = await get(`/accounts/${number}/statements`);
  const shown = h("div");
  if (!listed.items.length)
    return h("p", {
      class: "empty",
      text: `No statements yet for ${number}: it has had no movements.`,
    });
  const rows = listed.items.map((m) => ({ month: m.month }));
  return h(
    "div",
    {},
    table({
      caption: `Statements of ${number}`,
      columns: [
        { label: "Month", value: (m) => m.month },
        {
          label: "View",
          value: (m) =>
            actionButton(
              "View",
              async () => {
                await showStatement(shown, number, m.month);
              },
              { name: `View ${m.month}` },
            ),
        },
        {
          label: "CSV",
          value: (m) =>
            actionButton("CSV", () => fileOf(number, m.month, "csv"), {
              name: `Download ${m.month} as CSV`,
            }),
        },
        {
          label: "PDF",
          value: (m) =>
            actionButton("PDF", () => fileOf(number, m.month, "pdf"), {
              name: `Download ${m.month} as PDF`,
            }),
        },
      ],
      items: rows,
    }),
    shown,
  );
}

async function fileOf(number, month, format) {
  const size = await download(
    `/accounts/${number}/statements/${month}`,
    { format },
    `statement-${number}-${month}.${format}`,
  );
  return `Downloaded (${size} bytes).`;
}

async function showStatement(host, number, month) {
  const s = await get(`/accounts/${number}/statements/${month}`);
  const currency = s.lines[0]?.currency || "";
  replace(
    host,
    section(
      `Statement ${s.month} of ${s.account_number}`,
      summary([
        ["Opening balance", money(s.opening_balance, currency)],
        ["Money in", money(s.total_credits, currency)],
        ["Money out", money(s.total_debits, currency)],
        [
          "Closing balance",
          h("strong", { class: "closing-balance", text: money(s.closing_balance, currency) }),
        ],
      ]),
      table({
        caption: `Lines of ${s.month}`,
        columns: movementColumns({ account: false }),
        items: s.lines,
      }),
    ),
  );
}

export const routes = [
  { path: "/app/", title: "Overview", roles: CUSTOMER, render: dashboard },
  { path: "/app/history", title: "History", roles: CUSTOMER, render: history },
  {
    path: "/app/deposit",
    title: "Deposit",
    roles: CUSTOMER,
    render: (b) => movement(b, "deposit"),
  },
  {
    path: "/app/withdraw",
    title: "Withdraw",
    roles: CUSTOMER,
    render: (b) => movement(b, "withdraw"),
  },
  {
    path: "/app/transfer",
    title: "Transfer",
    roles: CUSTOMER,
    render: (b) => movement(b, "transfer"),
  },
  { path: "/app/approvals", title: "Approvals", roles: CUSTOMER, render: approvals },
  { path: "/app/statements", title: "Statements", roles: CUSTOMER, render: statements },
];
