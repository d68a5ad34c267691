-- recode for Neovim (>= 0.10): starts `recode lsp` for Python buffers, one
-- client per project root (nearest pyproject.toml, lock file,
-- requirements.txt, setup.py/setup.cfg or .git).
local M = {}

local root_markers = {
  "pyproject.toml", "uv.lock", "poetry.lock", "pylock.toml", "Pipfile.lock", "pdm.lock",
  "requirements.txt", "environment.yml", "setup.py", "setup.cfg", ".git",
}

M.defaults = {
  -- The recode binary and its arguments.
  cmd = { "recode", "lsp" },
  -- Sent as initializationOptions (see the README: env, pins, libraries,
  -- severity, model, modelFixes, samples, debounceMs).
  settings = {},
}

local function start(config, bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local root = vim.fs.root(path ~= "" and path or vim.fn.getcwd(), root_markers) or vim.fn.getcwd()
  vim.lsp.start({
    name = "recode",
    cmd = config.cmd,
    root_dir = root,
    init_options = config.settings,
    settings = { recode = config.settings },
  }, { bufnr = bufnr })
end

--- Starts recode for every Python buffer, now and later.
---@param opts? { cmd?: string[], settings?: table }
function M.setup(opts)
  local config = vim.tbl_deep_extend("force", M.defaults, opts or {})
  local group = vim.api.nvim_create_augroup("recode", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = "python",
    callback = function(args)
      start(config, args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype == "python" then
      start(config, bufnr)
    end
  end
end

return M
