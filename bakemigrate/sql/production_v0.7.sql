-- bake-tracker v0.7's production tables and indexes, as its create_all writes them.
-- Written by bakemigrate.tables.shipped_ddl_text from the SQLAlchemy tables of tables.py.

CREATE TABLE production_runs (
	recipe_id INTEGER NOT NULL, 
	finished_unit_id INTEGER NOT NULL, 
	event_id INTEGER, 
	num_batches INTEGER NOT NULL, 
	expected_yield INTEGER NOT NULL, 
	actual_yield INTEGER NOT NULL, 
	produced_at DATETIME NOT NULL, 
	notes TEXT, 
	production_status VARCHAR(20) NOT NULL, 
	loss_quantity INTEGER NOT NULL, 
	total_ingredient_cost NUMERIC(10, 4) NOT NULL, 
	per_unit_cost NUMERIC(10, 4) NOT NULL, 
	id INTEGER NOT NULL, 
	uuid VARCHAR(36) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_production_run_batches_positive CHECK (num_batches > 0), 
	CONSTRAINT ck_production_run_expected_yield_non_negative CHECK (expected_yield >= 0), 
	CONSTRAINT ck_production_run_actual_yield_non_negative CHECK (actual_yield >= 0), 
	CONSTRAINT ck_production_run_total_cost_non_negative CHECK (total_ingredient_cost >= 0), 
	CONSTRAINT ck_production_run_per_unit_cost_non_negative CHECK (per_unit_cost >= 0), 
	CONSTRAINT ck_production_run_loss_non_negative CHECK (loss_quantity >= 0), 
	FOREIGN KEY(recipe_id) REFERENCES recipes (id) ON DELETE RESTRICT, 
	FOREIGN KEY(finished_unit_id) REFERENCES finished_units (id) ON DELETE RESTRICT, 
	FOREIGN KEY(event_id) REFERENCES events (id) ON DELETE RESTRICT
);

CREATE INDEX idx_production_run_event ON production_runs (event_id);

CREATE INDEX idx_production_run_finished_unit ON production_runs (finished_unit_id);

CREATE INDEX idx_production_run_produced_at ON production_runs (produced_at);

CREATE INDEX idx_production_run_recipe ON production_runs (recipe_id);

CREATE INDEX idx_production_run_status ON production_runs (production_status);

CREATE INDEX ix_production_runs_event_id ON production_runs (event_id);

CREATE UNIQUE INDEX ix_production_runs_uuid ON production_runs (uuid);

CREATE TABLE production_consumptions (
	production_run_id INTEGER NOT NULL, 
	ingredient_slug VARCHAR(100) NOT NULL, 
	quantity_consumed NUMERIC(10, 3) NOT NULL, 
	unit VARCHAR(50) NOT NULL, 
	total_cost NUMERIC(10, 4) NOT NULL, 
	id INTEGER NOT NULL, 
	uuid VARCHAR(36) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_prod_consumption_quantity_positive CHECK (quantity_consumed > 0), 
	CONSTRAINT ck_prod_consumption_cost_non_negative CHECK (total_cost >= 0), 
	FOREIGN KEY(production_run_id) REFERENCES production_runs (id) ON DELETE CASCADE
);

CREATE INDEX idx_prod_consumption_ingredient ON production_consumptions (ingredient_slug);

CREATE INDEX idx_prod_consumption_run ON production_consumptions (production_run_id);

CREATE UNIQUE INDEX ix_production_consumptions_uuid ON production_consumptions (uuid);

CREATE TABLE production_losses (
	production_run_id INTEGER, 
	finished_unit_id INTEGER NOT NULL, 
	loss_category VARCHAR(20) NOT NULL, 
	loss_quantity INTEGER NOT NULL, 
	notes TEXT, 
	per_unit_cost NUMERIC(10, 4) NOT NULL, 
	total_loss_cost NUMERIC(10, 4) NOT NULL, 
	id INTEGER NOT NULL, 
	uuid VARCHAR(36) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_production_loss_quantity_positive CHECK (loss_quantity > 0), 
	CONSTRAINT ck_production_loss_per_unit_cost_non_negative CHECK (per_unit_cost >= 0), 
	CONSTRAINT ck_production_loss_total_cost_non_negative CHECK (total_loss_cost >= 0), 
	FOREIGN KEY(production_run_id) REFERENCES production_runs (id) ON DELETE SET NULL, 
	FOREIGN KEY(finished_unit_id) REFERENCES finished_units (id) ON DELETE RESTRICT
);

CREATE INDEX idx_production_loss_category ON production_losses (loss_category);

CREATE INDEX idx_production_loss_created ON production_losses (created_at);

CREATE INDEX ix_production_losses_finished_unit_id ON production_losses (finished_unit_id);

CREATE INDEX ix_production_losses_production_run_id ON production_losses (production_run_id);

CREATE UNIQUE INDEX ix_production_losses_uuid ON production_losses (uuid);

