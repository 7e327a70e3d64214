// GraphiQL for Assay: every asset comes from this server; the access token is kept in this browser's
// localStorage and sent as `Authorization: Bearer <token>` on HTTP and in the WebSocket's
// connection_init payload, so subscriptions such as jobEvents work after one paste.
(function () {
  "use strict";
  var TOKEN_KEY = "assay:accessToken";
  var endpoint = window.location.origin + window.location.pathname;
  var socketEndpoint = endpoint.replace(/^http/, "ws");
  var form = document.getElementById("assay-token");
  var input = document.getElementById("assay-token-input");
  var status = document.getElementById("assay-token-status");

  function storedToken() {
    try { return window.localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function saveToken(value) {
    var token = (value || "").trim().replace(/^bearer\s+/i, "").replace(/^"|"$/g, "");
    try {
      if (token) { window.localStorage.setItem(TOKEN_KEY, token); } else { window.localStorage.removeItem(TOKEN_KEY); }
    } catch (e) { /* storage disabled: the token lasts for this page only */ }
    current = token;
    input.value = token;
    status.textContent = token ? "Requests carry this token." : "No token: only health, register, login and refreshToken work.";
  }

  var current = storedToken();
  saveToken(current);
  form.addEventListener("submit", function (event) { event.preventDefault(); saveToken(input.value); });
  document.getElementById("assay-token-clear").addEventListener("click", function () { saveToken(""); });

  function authorization() { return current ? { Authorization: "Bearer " + current } : {}; }

  // A token in an answer to register, login or refreshToken is taken up at once.
  function pickUpToken(result) {
    var data = result && result.data;
    if (!data) { return; }
    ["login", "register", "refreshToken"].forEach(function (field) {
      var token = data[field] && data[field].accessToken;
      if (typeof token === "string" && token) { saveToken(token); }
    });
  }

  function fetcher(params, options) {
    var headers = authorization();
    var result = GraphiQL.createFetcher({
      url: endpoint, subscriptionUrl: socketEndpoint, headers: headers, wsConnectionParams: headers,
      enableIncrementalDelivery: false,  // plain JSON answers, so a login's token can be read from them
    })(params, options);
    if (result && typeof result.then === "function") {
      result.then(pickUpToken, function () {});
    }
    return result;
  }

  var explorer = GraphiQLPluginExplorer.explorerPlugin();
  function AssayGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher, plugins: [explorer], defaultEditorToolsVisibility: true,
      inputValueDeprecation: true, isHeadersEditorEnabled: true, shouldPersistHeaders: false,
      defaultQuery: "# Paste an access token above (or run login here: its token is taken up).\n" +
        "# Ctrl-Enter runs the query.\n\n{\n  me {\n    id\n    email\n  }\n}\n",
    });
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(AssayGraphiQL));
})();
