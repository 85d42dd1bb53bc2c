// Signing in and up (and resetting a forgotten password).

import { api, signIn } from "../api.js";
import { h, replace } from "../dom.js";
import { setFlash } from "../flash.js";
import { money } from "../money.js";
import { form, notice } from "../ui.js";

function login(body, { signedIn }) {
  const signInForm = form({
    label: "Sign in",
    submitLabel: "Sign in",
    fields: [
      { name: "username", label: "Username", required: true, autocomplete: "username" },
      {
        name: "password",
        label: "Password",
        type: "password",
        required: true,
        autocomplete: "current-password",
      },
    ],
    onSubmit: async (values) => {
      const user = await signIn(values.username, values.password);
      signedIn(user);
    },
  });
  replace(
    body,
    h(
      "div",
      { class: "narrow" },
      signInForm.element,
      h("p", {}, "New here? ", h("a", { href: "/app/signup", text: "Open an account" }), "."),
      h("p", {}, h("a", { href: "/app/reset", text: "Forgot your password?" })),
      h("p", {
        class: "hint",
        text: "For your safety you stay signed in only while this tab is open: reloading the page signs you out.",
      }),
    ),
  );
  signInForm.inputs.username.focus();
}

function signup(body, { signedIn }) {
  const signUpForm = form({
    label: "Open an account",
    submitLabel: "Open my account",
    intro: "You get a checking account at 0.00; you can open a savings account and goals later.",
    fields: [
      {
        name: "username",
        label: "Username",
        required: true,
        autocomplete: "username",
        hint: "3 to 32 letters, digits, _ . or -",
      },
      {
        name: "password",
        label: "Password",
        type: "password",
        required: true,
        autocomplete: "new-password",
        hint: "8 to 128 characters, not a common password",
      },
      { name: "full_name", label: "Full name", autocomplete: "name" },
      { name: "email", label: "Email", type: "email", autocomplete: "email" },
    ],
    onSubmit: async (values) => {
      const body = { username: values.username, password: values.password };
      if (values.full_name) body.full_name = values.full_name;
      if (values.email) body.email = values.email;
      const made = await api("POST", "/auth/register", { body, anonymous: true });
      const user = await signIn(values.username, values.password);
      setFlash(
        `Welcome! Your account ${made.account.account_number} is open with ${money(made.account.balance, made.account.currency)}.`,
      );
      signedIn(user);
    },
  });
  replace(
    body,
    h(
      "div",
      { class: "narrow" },
      signUpForm.element,
      h("p", {}, "Already a customer? ", h("a", { href: "/app/login", text: "Sign in" }), "."),
    ),
  );
  signUpForm.inputs.username.focus();
}

function reset(body) {
  const codeForm = form({
    label: "Set a new password",
    title: "2. Set a new password",
    submitLabel: "Set the new password",
    fields: [
      { name: "username", label: "Username", required: true, autocomplete: "username" },
      {
        name: "code",
        label: "Code",
        required: true,
        autocomplete: "one-time-code",
        hint: "The 8 digits we sent you",
      },
      {
        name: "new_password",
        label: "New password",
        type: "password",
        required: true,
        autocomplete: "new-password",
      },
    ],
    onSubmit: async (values) => {
      await api("POST", "/auth/password-reset/confirm", { body: values, anonymous: true });
      codeForm.reset();
      replace(
        done,
        notice(
          "Your password is changed and every session is signed out. Sign in with the new password.",
        ),
      );
    },
  });
  const askForm = form({
    label: "Ask for a code",
    title: "1. Ask for a code",
    submitLabel: "Send me a code",
    fields: [{ name: "username", label: "Username", required: true, autocomplete: "username" }],
    onSubmit: async (values) => {
      await api("POST", "/auth/password-reset", { body: values, anonymous: true });
      codeForm.inputs.username.value = values.username;
      replace(
        sent,
        notice(
          "If the username exists and has an email or phone, a code is on its way. It works for 15 minutes.",
        ),
      );
      codeForm.inputs.code.focus();
    },
  });
  const sent = h("div");
  const done = h("div");
  replace(
    body,
    h(
      "div",
      { class: "narrow" },
      askForm.element,
      sent,
      codeForm.element,
      done,
      h("p", {}, h("a", { href: "/app/login", text: "Back to sign in" })),
    ),
  );
}

export const routes = [
  { path: "/app/login", title: "Sign in", public: true, render: login },
  { path: "/app/signup", title: "Open an account", public: true, render: signup },
  { path: "/app/reset", title: "Reset your password", public: true, render: reset },
];
