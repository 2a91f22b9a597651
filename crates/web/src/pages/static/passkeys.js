/* authd's passkey buttons: the only script of the pages, loaded on /login and /account when
   passkeys are on. Without it (or without WebAuthn in the browser) the buttons stay hidden
   and every other part of the pages works as before. It talks to authd's JSON API on the same
   origin (`/passkeys/…`); the API's answers carry no secret the page keeps. */
(function () {
  "use strict";
  var box = document.getElementById("passkeys");
  if (!box || !window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  var base = box.getAttribute("data-base") || "";
  var status = document.getElementById("passkey-status");

  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  /* Base64url (no padding) to bytes, as WebAuthn's JSON writes binary. */
  function decode(text) {
    var bytes = [], bits = 0, count = 0;
    for (var i = 0; i < text.length; i++) {
      var value = ALPHABET.indexOf(text.charAt(i));
      if (value < 0) { continue; }
      bits = (bits << 6) | value;
      count += 6;
      if (count >= 8) {
        count -= 8;
        bytes.push((bits >> count) & 255);
      }
    }
    return new Uint8Array(bytes).buffer;
  }

  function encode(buffer) {
    var bytes = new Uint8Array(buffer), out = "";
    for (var i = 0; i < bytes.length; i += 3) {
      var n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      var chars = Math.min(bytes.length - i, 3) + 1;
      for (var j = 0; j < chars; j++) {
        out += ALPHABET.charAt((n >> (18 - 6 * j)) & 63);
      }
    }
    return out;
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      var copy = Object.assign({}, item);
      copy.id = decode(item.id);
      return copy;
    });
  }

  /* The server's JSON options, with binary where the browser wants it. */
  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = decode(json.challenge);
    options.user = Object.assign({}, json.user, { id: decode(json.user.id) });
    options.excludeCredentials = withIds(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = decode(json.challenge);
    options.allowCredentials = withIds(json.allowCredentials);
    return options;
  }

  /* A credential as `PublicKeyCredential.toJSON()` writes it. */
  function credentialJSON(credential) {
    var response = credential.response, out = {};
    ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]
      .forEach(function (name) {
        if (response[name]) { out[name] = encode(response[name]); }
      });
    if (response.getTransports) { out.transports = response.getTransports(); }
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response: out,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults()
    };
  }

  function call(method, path, body) {
    return fetch(base + path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) { throw new Error(json.message || "the server said no"); }
        return json;
      });
    });
  }

  function say(text) {
    if (status) { status.textContent = text; }
  }

  function failed(what) {
    return function (error) {
      if (error && error.name === "AbortError") { return; }
      if (error && error.name === "NotAllowedError") {
        say(what + " was cancelled or timed out. Try again.");
        return;
      }
      say(what + " did not work: " + ((error && error.message) || "unknown error") + ".");
    };
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-button]"), function (el) {
    el.hidden = false;
  });

  /* /account: add a passkey. */
  var add = document.getElementById("passkey-add");
  if (add) {
    add.addEventListener("click", function () {
      var name = document.getElementById("passkey-name");
      say("Follow your browser's prompt…");
      call("POST", "/passkeys/registration").then(function (begun) {
        return navigator.credentials.create({ publicKey: creationOptions(begun.options.publicKey) })
          .then(function (credential) {
            return call("PUT", "/passkeys/registration", {
              challenge_id: begun.challenge_id,
              credential: credentialJSON(credential),
              name: name ? name.value : ""
            });
          });
      }).then(function () {
        window.location.assign(base + "/account?m=passkey-added");
      }, failed("Adding a passkey"));
    });
  }

  /* /login: sign in with a passkey, by the button or from the email field's autofill. */
  var signIn = document.getElementById("passkey-sign-in");
  if (signIn) {
    var next = box.getAttribute("data-next") || base + "/account";
    var pending = null;

    var finish = function (begun, credential) {
      return call("PUT", "/passkeys/authentication", {
        challenge_id: begun.challenge_id,
        credential: credentialJSON(credential)
      }).then(function () { window.location.assign(next); });
    };

    var ask = function (conditional) {
      if (pending) { pending.abort(); }
      var controller = new AbortController();
      pending = controller;
      return call("POST", "/passkeys/authentication").then(function (begun) {
        var request = { publicKey: requestOptions(begun.options.publicKey), signal: controller.signal };
        if (conditional) { request.mediation = "conditional"; }
        return navigator.credentials.get(request).then(function (credential) {
          return finish(begun, credential);
        });
      });
    };

    signIn.addEventListener("click", function () {
      say("Follow your browser's prompt…");
      ask(false).catch(failed("Signing in with a passkey"));
    });

    /* Autofill: passkeys offered in the email field's suggestions, asked for once the field is
       used (a conditional request waits for the person to pick one). */
    var email = document.getElementById("email");
    if (email && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) { return; }
        email.addEventListener("focus", function () {
          if (!pending) { ask(true).catch(failed("Signing in with a passkey")); }
        }, { once: true });
      });
    }
  }
}());
