// One Lambda execution environment for a Node.js function: the same protocol as worker.py.
//
// Started by runtime.py as `node <this file> <result fd>` with the function's code directory as
// working directory and the function's environment (_HANDLER, LAMBDA_TASK_ROOT, NODE_PATH holding the
// layers' nodejs/node_modules folders). Node's standard library only.
//
// Protocol (JSON lines): requests arrive on stdin; each reply goes to the result fd; the handler's
// console output (stdout and stderr share one pipe) ends each invocation with END_MARKER + request id.
// The handler is "path/file.export" (CommonJS or ES module: .js, .mjs, .cjs), async or callback style;
// errors are shaped as the AWS Node.js runtime shapes them (errorType, errorMessage, trace).
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");
const { pathToFileURL } = require("url");

const END_MARKER = "\x1fSTEPDEPLOY-LAMBDA-END ";
const resultFd = Number(process.argv[2]);
let currentRequestId = undefined;

class HandlerError extends Error {
  constructor(errorType, message) {
    super(message);
    this.errorType = errorType;
  }
}

function errorPayload(error) {
  if (error instanceof HandlerError) {
    return { errorType: error.errorType, errorMessage: error.message, trace: [] };
  }
  if (error instanceof Error) {
    return {
      errorType: error.name || "Error",
      errorMessage: error.message,
      trace: String(error.stack || "").split("\n"),
    };
  }
  // callback("boom") and throw "boom": AWS names the error by its JavaScript type.
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

// console.* as the Lambda runtime writes it: timestamp, request id, level, message.
for (const [method, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"],
                                ["debug", "DEBUG"], ["trace", "TRACE"]]) {
  const original = console[method].bind(console);
  console[method] = (...args) => {
    const text = require("util").format(...args);
    original(`${new Date().toISOString()}\t${currentRequestId || "undefined"}\t${level}\t${text}`);
  };
}

function isEsm(file) {
  if (file.endsWith(".mjs")) return true;
  if (file.endsWith(".cjs")) return false;
  let dir = path.dirname(file);
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, "utf8")).type === "module";
      } catch (_) {
        return false;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

async function loadHandler(handlerString) {
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const slash = handlerString.lastIndexOf("/");
  const dot = handlerString.indexOf(".", slash + 1);
  if (dot < 0) {
    throw new HandlerError("Runtime.MalformedHandlerName", `Bad handler ${handlerString}`);
  }
  const modulePath = handlerString.slice(0, dot);
  const exportPath = handlerString.slice(dot + 1).split(".");
  const base = path.resolve(taskRoot, modulePath);
  const file = [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    throw new HandlerError("Runtime.ImportModuleError",
      `Error: Cannot find module '${modulePath}'\nRequire stack:\n- ${__filename}`);
  }
  let module;
  try {
    if (isEsm(file)) {
      module = await import(pathToFileURL(file).href);
    } else {
      module = require(file);
    }
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new HandlerError("Runtime.UserCodeSyntaxError", `${error.name}: ${error.message}`);
    }
    throw new HandlerError("Runtime.ImportModuleError", `${error.name || "Error"}: ${error.message}`);
  }
  let handler = module;
  for (const name of exportPath) {
    handler = handler === undefined || handler === null ? undefined : handler[name];
  }
  if (typeof handler !== "function") {
    throw new HandlerError("Runtime.HandlerNotFound", `${path.basename(modulePath)}.${exportPath.join(".")} is undefined or not exported`);
  }
  return handler;
}

function makeContext(request, settle) {
  return {
    awsRequestId: request.request_id,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || "",
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || "$LATEST",
    invokedFunctionArn: request.invoked_function_arn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || "128",
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME || "",
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME || "",
    identity: undefined,
    clientContext: request.client_context,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, Number(request.deadline_ms) - Date.now()),
    done: (error, result) => settle(error, result),
    succeed: (result) => settle(null, result),
    fail: (error) => settle(error || "handled"),
  };
}

let cachedHandler = null;

function runOne(request) {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (error, result) => {
      if (settled) return;
      settled = true;
      if (error !== null && error !== undefined) {
        resolve({ error: errorPayload(error) });
        return;
      }
      let payload;
      try {
        payload = JSON.stringify(result === undefined ? null : result);
      } catch (marshal) {
        resolve({ error: { errorType: "Runtime.MarshalError", errorMessage: `Unable to stringify response body: ${marshal.message}`, trace: [] } });
        return;
      }
      resolve({ payload });
    };
    (async () => {
      if (cachedHandler === null) cachedHandler = await loadHandler(process.env._HANDLER || "");
      const event = JSON.parse(request.event);
      const returned = cachedHandler(event, makeContext(request, settle), settle);
      if (returned && typeof returned.then === "function") {
        settle(null, await returned);
      } else if (cachedHandler.length < 3) {
        // Neither a promise nor a callback: AWS ignores a plain return value and answers null once
        // the event loop is empty; here, once the current turn of the event loop is done.
        setImmediate(() => settle(null, null));
      }
    })().catch((error) => settle(error));
  });
}

function writeAll(fd, text) {
  let data = Buffer.from(text, "utf8");
  while (data.length > 0) {
    const written = fs.writeSync(fd, data);
    data = data.subarray(written);
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    currentRequestId = request.request_id;
    const reply = await runOne(request);
    if (reply.error) {
      console.error(`Invoke Error \t${JSON.stringify(reply.error)}`);
    }
    currentRequestId = undefined;
    writeAll(1, `\n${END_MARKER}${request.request_id}\n`);
    writeAll(resultFd, JSON.stringify({ request_id: request.request_id, ...reply }) + "\n");
  }
  process.exit(0);
}

main();
