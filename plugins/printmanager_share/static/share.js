// The recipient's page of a printmanager share: everything is decrypted here, in the browser.
//
// The link is <gateway>/s/<token>#k=<AGE-SECRET-KEY-1...> (or #w=<password-wrapped key>). The
// fragment never reaches the gateway. This page asks the gateway for the link's state, fetches the
// age-encrypted manifest, decrypts it with the vendored age-encryption library, checks the sender's
// Ed25519 signature over it, lists the files with their thumbnails, and decrypts each file on
// download, checking its size and SHA-256 before handing it to the browser. Bundle format and
// gateway paths: docs/sharing.md.

import { Decrypter } from "age-encryption";
import { forceWebCryptoOff } from "age-encryption/x25519";
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { base64urlnopad } from "@scure/base";

const FORMAT = "printmanager-share/1";
const THUMBNAIL_TYPES = new Set(["image/png", "image/jpeg", "image/webp", "image/gif"]);

/** What the page did, for people and for tests (window.pmShare). */
const state = { state: "loading", error: null, verified: false, fingerprint: null, files: [], thumbnails: 0, downloads: {} };
window.pmShare = state;

const $ = (id) => document.getElementById(id);
const base = location.pathname.replace(/\/+$/, "");

class ShareError extends Error {
  constructor(code, title, detail = "") {
    super(`${title}${detail ? ": " + detail : ""}`);
    this.code = code;
    this.title = title;
    this.detail = detail;
  }
}

const REFUSED = {
  unknown: ["not-found", "No such share", "The link is wrong, or the sender deleted the share."],
  expired: ["expired", "This share has expired", "Ask the sender to share the files again."],
  revoked: ["revoked", "The sender revoked this share", "The files are no longer available from this link."],
  exhausted: ["exhausted", "This link has been used up", "It was opened as many times as the sender allowed."],
};

function refused(status, body) {
  const known = REFUSED[body && body.state];
  if (known) return new ShareError(...known);
  if (status === 404) return new ShareError(...REFUSED.unknown);
  if (status === 410) return new ShareError("gone", "This share is no longer available", "It expired or was revoked.");
  return new ShareError("server", "The share's server answered with an error", `HTTP ${status}`);
}

async function get(path) {
  let response;
  try {
    response = await fetch(base + path, { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
  } catch (error) {
    throw new ShareError("network", "The share's server cannot be reached", String(error.message || error));
  }
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (ignored) { /* not JSON: a storage error page */ }
    throw refused(response.status, body);
  }
  return response;
}

function keyError(error) {
  const text = String((error && error.message) || error);
  if (/no identity matched/i.test(text)) {
    return new ShareError("wrong-key", "The key in this link does not open this share",
      "The link may have been cut short or changed. Ask the sender for it again.");
  }
  if (/invalid header HMAC|unrecognized identity|bech32|invalid/i.test(text)) {
    return new ShareError("bad-key", "The key in this link is damaged",
      "The part after “#” is not a valid key. Ask the sender for the link again.");
  }
  return new ShareError("decrypt", "The share could not be decrypted", text);
}

function human(size) {
  if (size == null) return "";
  if (size < 1000) return `${size} bytes`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = size;
  let unit = "bytes";
  for (const next of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = next;
  }
  return `${value.toFixed(1)} ${unit}`;
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return isNaN(date) ? iso : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function fingerprintOf(publicKey) {
  const hex = bytesToHex(sha256(publicKey).slice(0, 16));
  return hex.match(/.{4}/g).join(" ");
}

function safeName(name, n) {
  const base = String(name || "").split(/[\\/]/).pop().replace(/[\u0000-\u001f\u007f]/g, "").trim();
  return base && base !== "." && base !== ".." ? base : `file-${n}`;
}

function showError(error) {
  const share = error instanceof ShareError ? error : new ShareError("internal", "Something went wrong", String(error));
  state.state = "error";
  state.error = { code: share.code, title: share.title, detail: share.detail };
  const box = $("error");
  box.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = share.title;
  box.append(strong);
  if (share.detail) box.append(document.createTextNode(share.detail));
  box.hidden = false;
  $("progress").hidden = true;
}

function readFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const k = params.get("k");
  const w = params.get("w");
  if (!k && !w) {
    throw new ShareError("no-key", "This link is incomplete",
      "The key (the part after “#”) is missing. Ask the sender for the whole link.");
  }
  return { k, w };
}

async function unwrapPassword(wrapped) {
  let bytes;
  try {
    bytes = base64urlnopad.decode(wrapped);
  } catch (error) {
    throw new ShareError("bad-key", "The key in this link is damaged", "The part after “#” is not valid.");
  }
  const form = $("password-form");
  form.hidden = false;
  $("progress").hidden = true;
  state.state = "password";
  $("password").focus();
  return await new Promise((resolve) => {
    form.addEventListener("submit", async function submit(event) {
      event.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      $("error").hidden = true;
      $("progress").hidden = false;
      $("progress").textContent = "Checking the password…";
      try {
        const decrypter = new Decrypter();
        decrypter.addPassphrase($("password").value);
        const identity = (await decrypter.decrypt(bytes, "text")).trim();
        form.removeEventListener("submit", submit);
        form.hidden = true;
        resolve(identity);
      } catch (error) {
        showError(new ShareError("wrong-password", "Wrong password", "Check it with the sender and try again."));
        state.state = "password";
        button.disabled = false;
        $("password").select();
      }
    });
  });
}

async function openManifest(decrypter) {
  $("progress").textContent = "Decrypting the list of files…";
  const sealed = new Uint8Array(await (await get("/manifest")).arrayBuffer());
  let text;
  try {
    text = await decrypter.decrypt(sealed, "text");
  } catch (error) {
    throw keyError(error);
  }
  let envelope;
  try {
    envelope = JSON.parse(text);
  } catch (error) {
    throw new ShareError("format", "This share is not in a format this page knows", "the manifest is not JSON");
  }
  if (envelope.format !== FORMAT || typeof envelope.manifest !== "string" || !envelope.signature) {
    throw new ShareError("format", "This share is not in a format this page knows", String(envelope.format));
  }
  const signature = envelope.signature;
  let ok = false;
  let publicKey;
  try {
    if (signature.alg !== "ed25519") throw new Error(`signature algorithm ${signature.alg}`);
    publicKey = base64urlnopad.decode(signature.public_key);
    const value = base64urlnopad.decode(signature.value);
    const message = new TextEncoder().encode(`${FORMAT}\n${envelope.manifest}`);
    ok = ed25519.verify(value, message, publicKey);
  } catch (error) {
    ok = false;
  }
  if (!ok) {
    throw new ShareError("bad-signature", "The sender's signature does not match",
      "The share may have been tampered with, so nothing is shown.");
  }
  const manifest = JSON.parse(envelope.manifest);
  const fingerprint = fingerprintOf(publicKey);
  const claimed = manifest.creator && manifest.creator.key_fingerprint;
  if (claimed && claimed.replace(/\s+/g, "") !== fingerprint.replace(/\s+/g, "")) {
    throw new ShareError("bad-signature", "The sender's key does not match the share",
      "The share may have been tampered with, so nothing is shown.");
  }
  state.verified = true;
  state.fingerprint = fingerprint;
  return manifest;
}

/** Fetch and decrypt object `path`, checking its plaintext size and SHA-256; returns the chunks. */
async function openObject(decrypter, path, expect, onProgress) {
  const response = await get(path);
  let plain;
  try {
    plain = await decrypter.decrypt(response.body);
  } catch (error) {
    throw keyError(error);
  }
  const reader = plain.getReader();
  const hash = sha256.create();
  const chunks = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      chunks.push(value);
      size += value.length;
      if (onProgress) onProgress(size);
    }
  } catch (error) {
    throw new ShareError("damaged", "The file is damaged", "its encrypted data does not decrypt (cut short or changed)");
  }
  if (expect.size != null && size !== expect.size) {
    throw new ShareError("damaged", "The file is damaged", `it has ${size} bytes, the list says ${expect.size}`);
  }
  if (expect.sha256 && bytesToHex(hash.digest()) !== String(expect.sha256).toLowerCase()) {
    throw new ShareError("damaged", "The file is damaged", "its SHA-256 does not match the signed list");
  }
  return chunks;
}

function renderHeader(manifest, status) {
  document.title = `${manifest.title || "Shared files"} — shared files`;
  $("title").textContent = manifest.title || "Shared files";
  const sender = $("sender");
  sender.replaceChildren();
  const who = manifest.creator && manifest.creator.name;
  if (who) sender.append(document.createTextNode(`From ${who} · `));
  const verified = document.createElement("span");
  verified.className = "verified";
  verified.textContent = "signature verified";
  sender.append(verified, document.createTextNode(" · key "));
  const fp = document.createElement("span");
  fp.className = "fingerprint";
  fp.id = "fingerprint";
  fp.textContent = state.fingerprint;
  sender.append(fp);
  sender.hidden = false;
  const limits = [];
  if (manifest.created_at) limits.push(`Shared ${when(manifest.created_at)}`);
  const expires = (status && status.expires_at) || manifest.expires_at;
  if (expires) limits.push(`available until ${when(expires)}`);
  if (status && status.opens_left != null) limits.push(`${status.opens_left} open${status.opens_left === 1 ? "" : "s"} left`);
  if (limits.length) {
    $("limits").textContent = limits.join(" · ");
    $("limits").hidden = false;
  }
  if (manifest.message) {
    $("message").textContent = manifest.message;
    $("message").hidden = false;
  }
}

function renderFiles(manifest, decrypter) {
  const list = $("files");
  list.replaceChildren();
  const files = Array.isArray(manifest.files) ? manifest.files : [];
  const total = manifest.total_size != null ? manifest.total_size : files.reduce((sum, f) => sum + (f.size || 0), 0);
  $("files-count").textContent = `${files.length} file${files.length === 1 ? "" : "s"} · ${human(total)}`;
  const thumbnails = Array.isArray(manifest.thumbnails) ? manifest.thumbnails : [];
  const buttons = [];
  for (const file of files) {
    const n = Number(file.n);
    const item = document.createElement("li");
    item.className = "file";
    item.dataset.n = String(n);

    const picture = document.createElement("div");
    picture.className = "thumb none";
    picture.textContent = "no picture";
    item.append(picture);

    const text = document.createElement("div");
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = safeName(file.name, n);
    const meta = document.createElement("div");
    meta.className = "meta";
    const details = [human(file.size)];
    if (file.path && file.path !== file.name) details.push(file.path);
    if (file.model) details.push(`model: ${file.model}`);
    if (file.creator) details.push(`by ${file.creator}`);
    if (file.licence) details.push(`licence: ${file.licence}`);
    meta.textContent = details.filter(Boolean).join(" · ");
    const status = document.createElement("div");
    status.className = "state";
    text.append(name, meta, status);
    item.append(text);

    const button = document.createElement("button");
    button.type = "button";
    button.className = "download";
    button.textContent = "Download";
    button.addEventListener("click", () => download(decrypter, file, button, status));
    buttons.push(button);
    item.append(button);
    list.append(item);
    state.files.push({ n, name: name.textContent, size: file.size, sha256: file.sha256, thumbnail: file.thumbnail ?? null });

    const t = file.thumbnail;
    if (t != null && thumbnails[t]) {
      showThumbnail(decrypter, thumbnails[t], picture).catch(() => { picture.textContent = "picture damaged"; });
    }
  }
  $("download-all").addEventListener("click", async () => {
    $("download-all").disabled = true;
    for (const button of buttons) {
      if (!button.disabled) button.click();
      while (button.disabled) await new Promise((r) => setTimeout(r, 50));
    }
    $("download-all").disabled = false;
  });
  $("files-section").hidden = false;
}

async function showThumbnail(decrypter, thumbnail, holder) {
  const type = THUMBNAIL_TYPES.has(thumbnail.media_type) ? thumbnail.media_type : "image/png";
  const chunks = await openObject(decrypter, `/t/${Number(thumbnail.n)}`, thumbnail);
  const url = URL.createObjectURL(new Blob(chunks, { type }));
  const image = document.createElement("img");
  image.className = "thumb";
  image.alt = "";
  image.width = 72;
  image.height = 72;
  await new Promise((resolve, reject) => { image.onload = resolve; image.onerror = reject; image.src = url; });
  holder.replaceWith(image);
  state.thumbnails += 1;
}

async function download(decrypter, file, button, status) {
  const n = Number(file.n);
  button.disabled = true;
  status.className = "state";
  status.textContent = "Decrypting…";
  state.downloads[n] = "running";
  try {
    const chunks = await openObject(decrypter, `/f/${n}`, file, (done) => {
      status.textContent = file.size ? `Decrypting… ${Math.floor((100 * done) / file.size)}%` : "Decrypting…";
    });
    const url = URL.createObjectURL(new Blob(chunks, { type: "application/octet-stream" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = safeName(file.name, n);
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    status.className = "state ok";
    status.textContent = "Saved · SHA-256 checked";
    state.downloads[n] = "ok";
  } catch (error) {
    const share = error instanceof ShareError ? error : new ShareError("internal", "Download failed", String(error));
    status.className = "state bad";
    status.textContent = `${share.title}${share.detail ? ": " + share.detail : ""}`;
    state.downloads[n] = share.code;
  } finally {
    button.disabled = false;
  }
}

async function main() {
  const { k, w } = readFragment();
  if (!(globalThis.crypto && crypto.subtle)) forceWebCryptoOff(true); // not a secure context: pure JS X25519
  const status = await (await get("/status")).json();
  const identity = k || (await unwrapPassword(w));
  const decrypter = new Decrypter();
  try {
    decrypter.addIdentity(identity);
  } catch (error) {
    throw keyError(error);
  }
  const manifest = await openManifest(decrypter);
  renderHeader(manifest, status);
  renderFiles(manifest, decrypter);
  $("progress").hidden = true;
  state.state = "ready";
}

// a new link pasted into this tab changes only the fragment: start again with its key
window.addEventListener("hashchange", () => location.reload());
main().catch(showError);
