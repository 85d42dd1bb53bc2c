// A message for the next screen shown ("Welcome", "You were signed out").

let pending = null;

export function setFlash(text, kind = "success") {
  pending = { text, kind };
}

export function takeFlash() {
  const message = pending;
  pending = null;
  return message;
}
