// authd: the WebAuthn calls of the login and account pages. Served from authd itself (the pages'
// Content-Security-Policy allows no inline code). Everything else on those pages works without it.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // No WebAuthn here: the buttons stay hidden.
  }

  // webauthn-rs writes binary values as base64url strings; the browser wants ArrayBuffers.
  function toBuffer(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var text = atob(base64);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) {
      bytes[i] = text.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) {
      text += String.fromCharCode(bytes[i]);
    }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBufferIds(descriptors) {
    return (descriptors || []).map(function (descriptor) {
      var copy = Object.assign({}, descriptor);
      copy.id = toBuffer(descriptor.id);
      return copy;
    });
  }

  function creationOptions(options) {
    var publicKey = Object.assign({}, options.publicKey);
    publicKey.challenge = toBuffer(publicKey.challenge);
    publicKey.user = Object.assign({}, publicKey.user, { id: toBuffer(publicKey.user.id) });
    publicKey.excludeCredentials = withBufferIds(publicKey.excludeCredentials);
    return { publicKey: publicKey };
  }

  function requestOptions(options) {
    var publicKey = Object.assign({}, options.publicKey);
    publicKey.challenge = toBuffer(publicKey.challenge);
    publicKey.allowCredentials = withBufferIds(publicKey.allowCredentials);
    return { publicKey: publicKey };
  }

  function registration(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toBase64url(response.attestationObject),
        clientDataJSON: toBase64url(response.clientDataJSON),
        transports: response.getTransports ? response.getTransports() : undefined
      },
      extensions: credential.getClientExtensionResults()
    };
  }

  function assertion(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toBase64url(response.authenticatorData),
        clientDataJSON: toBase64url(response.clientDataJSON),
        signature: toBase64url(response.signature),
        userHandle: response.userHandle ? toBase64url(response.userHandle) : null
      },
      extensions: credential.getClientExtensionResults()
    };
  }

  // Same-origin JSON POST; an error answer becomes an Error with authd's description.
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () {
        return {};
      }).then(function (json) {
        if (!response.ok) {
          throw new Error(json.error_description || "The server refused (" + response.status + ").");
        }
        return json;
      });
    });
  }

  function say(status, message) {
    status.textContent = message;
    status.hidden = false;
  }

  function explain(error) {
    // The browser's own refusals (cancelled, timed out) are DOMExceptions.
    if (error && error.name === "NotAllowedError") {
      return "The passkey prompt was cancelled or timed out.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This authenticator holds a passkey for this account already.";
    }
    return (error && error.message) || "Something went wrong.";
  }

  // The login page: "Sign in with a passkey".
  var signIn = document.getElementById("passkey-sign-in");
  if (signIn) {
    var signInStatus = document.getElementById("passkey-status");
    var csrf = signIn.getAttribute("data-csrf");
    signIn.hidden = false;
    signIn.addEventListener("click", function () {
      signIn.disabled = true;
      post("/login/passkey/begin", { csrf: csrf })
        .then(function (begun) {
          return navigator.credentials.get(requestOptions(begun.options)).then(function (credential) {
            return post("/login/passkey/finish", {
              csrf: csrf,
              state: begun.state,
              credential: assertion(credential)
            });
          });
        })
        .then(function (finished) {
          window.location.assign(finished.location);
        })
        .catch(function (error) {
          say(signInStatus, explain(error));
          signIn.disabled = false;
        });
    });
  }

  // The account page: "Add a passkey".
  var add = document.getElementById("passkey-add");
  if (add) {
    var addStatus = document.getElementById("passkey-add-status");
    var nameField = document.getElementById("passkey-name");
    var addCsrf = add.getAttribute("data-csrf");
    document.getElementById("passkey-add-form").hidden = false;
    add.addEventListener("click", function () {
      var name = nameField.value.trim();
      if (!name) {
        say(addStatus, "Give the passkey a name first.");
        nameField.focus();
        return;
      }
      add.disabled = true;
      post("/account/passkeys/begin", { csrf: addCsrf })
        .then(function (begun) {
          return navigator.credentials.create(creationOptions(begun.options)).then(function (credential) {
            return post("/account/passkeys/finish", {
              csrf: addCsrf,
              state: begun.state,
              name: name,
              credential: registration(credential)
            });
          });
        })
        .then(function () {
          window.location.assign("/account");
        })
        .catch(function (error) {
          say(addStatus, explain(error));
          add.disabled = false;
        });
    });
  }
})();
