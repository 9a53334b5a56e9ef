# urbangis: two commands on a fresh machine.
#   make serve   set everything up, serve the sample city on http://127.0.0.1:8000
#   make test    set everything up, run the tests against a real PostGIS
# Everything the project starts lives in ./.urbangis (the PostGIS cluster) and ./.venv.

SHELL        := /bin/bash
PYTHON       ?= python3
VENV         := .venv
BIN          := $(VENV)/bin
# chromium + a CJK font: the map page is checked in a real headless browser (tests/tiles).
# python3-qgis: QGIS 3.22 as Debian ships it opens the layers and draws the style (tests/*/test_qgis.py).
APT_PACKAGES := postgresql-15 postgresql-15-postgis-3 postgresql-contrib gdal-bin chromium fonts-wqy-microhei python3-qgis
WEB_VENDOR   := api/static/vendor/maplibre-gl
PYTEST_ARGS  ?=

export URBANGIS_HOME ?= $(CURDIR)/.urbangis

.DEFAULT_GOAL := help
.PHONY: help serve test gate setup deps system-deps venv web db-up db-stop clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

serve: setup ## Install, start PostGIS, load the sample city (and heritage sample) once, serve on 127.0.0.1:8000
	URBANGIS_AUTH=off $(BIN)/urbangis serve --host 127.0.0.1

test: deps db-up gate ## Install, start PostGIS, run the quality gate and the tests
	$(BIN)/pytest $(PYTEST_ARGS)

# The quality gate (CONTRIBUTING.md): ruff over everything, mypy over the packages. mypy names a
# module by its folder, so it reads the checkout through a link named like the namespace.
MYPY_PACKAGES := $(foreach p,access api cases geocoder heritage ingest layers ogc samplecity tiles,-p urbangis.$(p))
gate: venv ## Lint (ruff: style, imports, complexity <= 15) and type-check (mypy)
	$(BIN)/ruff check .
	@mkdir -p $(URBANGIS_HOME)/mypy && ln -sfn $(CURDIR) $(URBANGIS_HOME)/mypy/urbangis
	cd $(URBANGIS_HOME)/mypy && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml $(MYPY_PACKAGES)

setup: deps db-up ## Everything `serve` needs, without serving
	$(BIN)/urbangis load --if-empty
	$(BIN)/urbangis samples rounds --if-empty
	$(BIN)/urbangis heritage samples --if-empty

deps: system-deps venv web ## System packages (apt-get), the Python venv, the map page's JS

db-up: ## Start the project-local cluster (or use URBANGIS_DATABASE_URL) and migrate
	$(BIN)/urbangis db up

db-stop: ## Stop the project-local cluster
	$(BIN)/urbangis db stop

# PostgreSQL 15 + PostGIS 3 + GDAL from Debian. Installed only when missing; needs root (CI runs
# as root), otherwise it says what to install.
system-deps:
	@if ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 \
	    && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v ogrinfo >/dev/null \
	    && command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi wenquanyi \
	    && /usr/bin/python3 -c "import qgis.core" 2>/dev/null; then \
	  echo "system packages: present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "system packages: installing $(APT_PACKAGES)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  if command -v pg_ctlcluster >/dev/null; then pg_ctlcluster --force 15 main stop >/dev/null 2>&1 || true; fi; \
	else \
	  echo "missing system packages; as root run: apt-get install $(APT_PACKAGES)" >&2; exit 1; \
	fi

venv: $(VENV)/.installed

# MapLibre GL JS from npm (web/package-lock.json), vendored into the app's static folder: the map
# page loads nothing from the internet. Redone only when the lock file changes.
web: $(WEB_VENDOR)/.installed

$(WEB_VENDOR)/.installed: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then echo "installing nodejs npm"; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	  else echo "npm missing; as root run: apt-get install nodejs npm" >&2; exit 1; fi; }
	cd web && npm ci --no-audit --no-fund --omit=dev --loglevel=error
	mkdir -p $(WEB_VENDOR)
	cp web/node_modules/maplibre-gl/dist/maplibre-gl.js web/node_modules/maplibre-gl/dist/maplibre-gl.css \
	   web/node_modules/maplibre-gl/dist/LICENSE.txt $(WEB_VENDOR)/
	touch $@

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# As root in a folder postgres cannot enter (/root), the cluster's files are kept in
# /var/lib/urbangis/clusters/<name> and .urbangis/pgdata links there: that folder goes too.
clean: ## Stop the cluster and remove .urbangis and .venv (all local data!)
	-$(BIN)/urbangis db stop
	-if [ -L .urbangis/pgdata ]; then $(PYTHON) -I layers/cluster.py remove "$(CURDIR)/.urbangis"; fi
	rm -rf .urbangis $(VENV)
